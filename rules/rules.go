package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/sipprot/sipprot/conf"
)

// ChainPrefix starts the name of every chain sipprot creates; Remove finds
// sipprot's chains, and the jumps to them, by this prefix alone.
const ChainPrefix = "SIPPROT"

// Chain names; see the package documentation for what each one holds.
const (
	chainInput       = "SIPPROT-INPUT"
	chainOutput      = "SIPPROT-OUTPUT"
	chainForward     = "SIPPROT-FORWARD"
	chainRequest     = "SIPPROT-REQUEST"
	chainGuard       = "SIPPROT-GUARD"
	chainReply       = "SIPPROT-REPLY"
	chainReplyGuard  = "SIPPROT-REPLY-GUARD"
	chainDefrag      = "SIPPROT-DEFRAG"
	portTFTP         = 69
	maxGuardPPS      = 1000000 // hashlimit refuses faster rates
	maxMultiportSize = 15      // multiport's limit; a range counts as two
)

// Family is an IP version.
type Family int

// The two families; each gets its own script.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Families lists IPv4 then IPv6, the order scripts are applied in.
var Families = []Family{IPv4, IPv6}

// Settings are the parts of the config the rules are generated from; a
// config reload reinstalls the rules only when they change.
type Settings struct {
	Protocols []conf.Protocol
	Ports     []conf.PortRange
	TFTP, DNS bool
	Queue     conf.Queue
}

// SettingsOf takes the firewall settings out of a loaded config.
func SettingsOf(c *conf.Config) Settings {
	return Settings{Protocols: c.SIP.Protocols, Ports: c.SIP.Ports, TFTP: c.TFTP.Enabled, DNS: c.DNS.Enabled, Queue: c.Queue}
}

// Rules is the firewall settings, checked: what to queue, the guard and
// the DNS rule. It is immutable; build it with New.
type Rules struct {
	mode      string
	protocols []conf.Protocol
	ports     []conf.PortRange
	tftp      bool
	dns       bool
	queue     int
	count     int
	failOpen  bool
	guardPPS  int
	exempt    []netip.Prefix
}

// ErrInvalid is wrapped by every error New returns.
var ErrInvalid = errors.New("invalid firewall settings")

// New checks s and builds the rules. conf.Load has checked most of the
// settings; New also refuses what iptables would (a guard over 1,000,000
// packets/s), so install does not fail half-way.
func New(s Settings) (*Rules, error) {
	q := s.Queue
	r := &Rules{
		mode:     q.Mode,
		tftp:     s.TFTP,
		dns:      s.DNS,
		queue:    q.Number,
		count:    q.Count,
		failOpen: q.FailOpen,
		guardPPS: q.GuardPPS,
	}
	fail := func(format string, args ...any) (*Rules, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if r.mode != conf.ModeLocal && r.mode != conf.ModeForward {
		return fail("queue.mode %q is neither %q nor %q", r.mode, conf.ModeLocal, conf.ModeForward)
	}
	if r.count < 1 || r.queue < 0 || r.queue+r.count-1 > 65535 {
		return fail("queues %d to %d are outside 0-65535", r.queue, r.queue+r.count-1)
	}
	if r.guardPPS < 0 || r.guardPPS > maxGuardPPS {
		return fail("queue.guard_pps %d is outside 0-%d, the range iptables hashlimit accepts", r.guardPPS, maxGuardPPS)
	}
	// UDP first: most SIP is UDP, and the first rule that matches is the
	// cheapest.
	for _, p := range []conf.Protocol{conf.UDP, conf.TCP} {
		if slices.Contains(s.Protocols, p) {
			r.protocols = append(r.protocols, p)
		}
	}
	if len(r.protocols) == 0 {
		return fail("sip.protocols has neither udp nor tcp")
	}
	for _, p := range s.Ports {
		if p.Lo == 0 || p.Lo > p.Hi {
			return fail("sip.ports has an invalid range %d:%d", p.Lo, p.Hi)
		}
		r.ports = append(r.ports, p)
	}
	if len(r.ports) == 0 {
		return fail("sip.ports is empty")
	}
	slices.SortFunc(r.ports, func(a, b conf.PortRange) int { return int(a.Lo) - int(b.Lo) })
	for _, p := range q.GuardExempt {
		if !p.IsValid() {
			return fail("queue.guard_exempt has an invalid prefix")
		}
		pfx := p.Masked()
		if !slices.Contains(r.exempt, pfx) {
			r.exempt = append(r.exempt, pfx)
		}
	}
	return r, nil
}

// Scripts returns the iptables-restore and ip6tables-restore scripts for a
// host where sipprot's rules are not installed yet. IPTables.Install adds
// the deletion of rules already there in front.
func (r *Rules) Scripts() (v4, v6 string) {
	return r.Script(IPv4), r.Script(IPv6)
}

// exemptFor returns the guard_exempt networks of family f, and whether one
// of them is the whole address space, which turns the guard off.
func (r *Rules) exemptFor(f Family) (nets []netip.Prefix, all bool) {
	for _, p := range r.exempt {
		if p.Addr().Is4() != (f == IPv4) {
			continue
		}
		if p.Bits() == 0 {
			return nil, true
		}
		nets = append(nets, p)
	}
	return nets, false
}

// guarded reports whether family f gets the rate guard.
func (r *Rules) guarded(f Family) bool {
	_, all := r.exemptFor(f)
	return r.guardPPS > 0 && !all
}

// tftpCovered reports whether UDP port 69 is already one of the SIP ports,
// so TFTP needs no rule of its own.
func (r *Rules) tftpCovered() bool {
	if !slices.Contains(r.protocols, conf.UDP) {
		return false
	}
	for _, p := range r.ports {
		if p.Contains(portTFTP) {
			return true
		}
	}
	return false
}
