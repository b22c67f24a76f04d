package lists

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/gaissmai/bart"
)

// Entry is one line of an allow or deny list: an address or network and
// its optional note.
type Entry struct {
	Prefix netip.Prefix
	Note   string
}

// ParsePrefix accepts an address (a /32 or /128) or a CIDR network, and
// returns it masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q: zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is what a prefix length loses when an IPv4-mapped address is
// written as plain IPv4.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// Read parses a list file: one address or CIDR per line, '#' starts a
// comment, text after the address is its note. Any bad line makes the
// whole file an error naming FILE:LINE, so a typo never half-applies.
func Read(r io.Reader, name string) ([]Entry, error) {
	var out []Entry
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		addr, note, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(addr, '\t'); i >= 0 {
			addr, note = addr[:i], addr[i+1:]+" "+note
		}
		p, err := ParsePrefix(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, n, err))
			continue
		}
		note = strings.TrimSpace(note)
		note = strings.TrimSpace(strings.TrimPrefix(note, "#"))
		out = append(out, Entry{Prefix: p, Note: note})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Load reads the list file at path; a missing file is an empty list.
func Load(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open list: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// LoadPair reads the allow and deny list files. A missing file is an
// empty list; a bad line is an error naming FILE:LINE.
func LoadPair(allowPath, denyPath string) (allow, deny []Entry, err error) {
	if allow, err = Load(allowPath); err != nil {
		return nil, nil, fmt.Errorf("allow list: %w", err)
	}
	if deny, err = Load(denyPath); err != nil {
		return nil, nil, fmt.Errorf("deny list: %w", err)
	}
	return allow, deny, nil
}

// PrefixSet builds the lookup set the engine publishes for a list.
func PrefixSet(entries []Entry) *bart.Lite {
	s := new(bart.Lite)
	for _, e := range entries {
		s.Insert(e.Prefix)
	}
	return s
}
