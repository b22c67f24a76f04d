package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The config's value types parse and check themselves in UnmarshalText, so
// a bad value is rejected with its key and line while decoding, and their
// MarshalText writes the same spelling back for `config show`.

// Duration is a time.Duration written in Go syntax ("90s", "10m", "24h").
type Duration struct {
	time.Duration
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like \"90s\", \"10m\", \"24h\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration without zero trailing units ("10m", not
// "10m0s"), as a user would.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String is the MarshalText spelling.
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// PortRange is an inclusive range of ports, written "5060" or "5060:5062".
// A single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// Overlaps reports whether r and o share at least one port.
func (r PortRange) Overlaps(o PortRange) bool { return r.Lo <= o.Hi && o.Lo <= r.Hi }

// UnmarshalText parses "PORT" or "LO:HI", ports 1-65535, LO <= HI.
func (r *PortRange) UnmarshalText(b []byte) error {
	s := string(b)
	lo, hi, isRange := strings.Cut(s, ":")
	l, err := parsePort(lo)
	h := l
	if err == nil && isRange {
		h, err = parsePort(hi)
	}
	if err != nil {
		return fmt.Errorf("%q %w", s, err)
	}
	if l > h {
		return fmt.Errorf("%q is not a port range: %d is above %d", s, l, h)
	}
	r.Lo, r.Hi = l, h
	return nil
}

var errNotPort = errors.New(`is not a port or range (like "5060" or "5060:5062")`)

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errNotPort
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("has port %d, out of range 1-65535", n)
	}
	return uint16(n), nil
}

// MarshalText writes "PORT" for a single port, else "LO:HI".
func (r PortRange) MarshalText() ([]byte, error) {
	if r.Lo == 0 || r.Lo > r.Hi {
		return nil, fmt.Errorf("invalid port range %d:%d", r.Lo, r.Hi)
	}
	return []byte(r.String()), nil
}

// String is the MarshalText spelling.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d:%d", r.Lo, r.Hi)
}

// Protocol is a transport sipprot inspects. Its value is the IP protocol
// number, so the packet path compares it with the header byte directly.
type Protocol uint8

// The protocols sipprot can inspect.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

// UnmarshalText accepts "udp" or "tcp" in any case.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "udp":
		*p = UDP
	case "tcp":
		*p = TCP
	default:
		return fmt.Errorf("unknown protocol %q (want \"udp\" or \"tcp\")", b)
	}
	return nil
}

// MarshalText writes "udp" or "tcp".
func (p Protocol) MarshalText() ([]byte, error) {
	if p != UDP && p != TCP {
		return nil, fmt.Errorf("invalid protocol %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// String returns "udp" or "tcp".
func (p Protocol) String() string {
	switch p {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return "protocol(" + strconv.Itoa(int(p)) + ")"
}

// Prefix is a network. An address alone means just that address (/32 or
// /128); host bits of a CIDR are cleared, so "192.0.2.7/24" is 192.0.2.0/24.
// IPv4-mapped IPv6 is stored as IPv4, since packets are decoded that way.
type Prefix struct {
	netip.Prefix
}

// UnmarshalText parses an IP address or a CIDR.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := string(b)
	var (
		pfx netip.Prefix
		err error
	)
	if strings.Contains(s, "/") {
		pfx, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		if err == nil && a.Zone() != "" {
			err = errors.New("zone not allowed")
		}
		if err == nil {
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	p.Prefix = pfx.Masked()
	return nil
}

// MarshalText writes the prefix in CIDR form.
func (p Prefix) MarshalText() ([]byte, error) {
	if !p.IsValid() {
		return nil, errors.New("invalid prefix")
	}
	return []byte(p.Prefix.String()), nil
}

// Country is an ISO 3166 alpha-2 country code, stored upper-case ("FR").
type Country string

// UnmarshalText accepts two ASCII letters in any case; whether the code is
// assigned (Known) is checked by Load, which reports an unknown one as
// such rather than as a malformed value.
func (c *Country) UnmarshalText(b []byte) error {
	if len(b) != 2 || !isLetter(b[0]) || !isLetter(b[1]) {
		return fmt.Errorf("%q is not a two-letter country code (like \"CN\")", b)
	}
	*c = Country(strings.ToUpper(string(b)))
	return nil
}

// MarshalText writes the upper-case code.
func (c Country) MarshalText() ([]byte, error) {
	if len(c) != 2 {
		return nil, fmt.Errorf("invalid country code %q", string(c))
	}
	return []byte(c), nil
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// TimeOfDay is a local wall-clock time written "HH:MM", 00:00 to 23:59.
type TimeOfDay struct {
	Hour, Minute int
}

// UnmarshalText parses exactly "HH:MM".
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	bad := fmt.Errorf("%q is not a time of day HH:MM (00:00-23:59)", b)
	if len(b) != 5 || b[2] != ':' {
		return bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if b[i] < '0' || b[i] > '9' {
			return bad
		}
	}
	h := int(b[0]-'0')*10 + int(b[1]-'0')
	m := int(b[3]-'0')*10 + int(b[4]-'0')
	if h > 23 || m > 59 {
		return bad
	}
	t.Hour, t.Minute = h, m
	return nil
}

// MarshalText writes "HH:MM".
func (t TimeOfDay) MarshalText() ([]byte, error) {
	if t.Hour < 0 || t.Hour > 23 || t.Minute < 0 || t.Minute > 59 {
		return nil, fmt.Errorf("invalid time of day %d:%d", t.Hour, t.Minute)
	}
	return []byte(t.String()), nil
}

// String is the MarshalText spelling.
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }
