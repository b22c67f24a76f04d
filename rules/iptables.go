package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// ErrNoIPTables means neither iptables variant is installed.
var ErrNoIPTables = errors.New("no iptables-restore/iptables-save found (install the iptables package)")

// IPTables is the Firewall that runs the iptables tools.
type IPTables struct {
	backend Backend
	prefix  []string

	// Replaced by tests.
	run      func(ctx context.Context, stdin string, argv []string) (string, error)
	lookPath func(string) (string, error)
	ipv6     func() bool
}

// NewIPTables returns the Firewall of this host. backend is Auto, NFT or
// Legacy. prefix, if any, is put in front of every command, so that
// {"ip", "netns", "exec", "ns1"} works inside a network namespace.
func NewIPTables(backend Backend, prefix ...string) *IPTables {
	if backend == "" {
		backend = Auto
	}
	return &IPTables{
		backend:  backend,
		prefix:   prefix,
		run:      runCommand,
		lookPath: exec.LookPath,
		ipv6:     ipv6Enabled,
	}
}

// variant is one iptables flavour's save and restore commands.
type variant struct {
	backend       Backend
	save, restore map[Family]string
}

var variants = []variant{
	{NFT,
		map[Family]string{IPv4: "iptables-nft-save", IPv6: "ip6tables-nft-save"},
		map[Family]string{IPv4: "iptables-nft-restore", IPv6: "ip6tables-nft-restore"}},
	{Legacy,
		map[Family]string{IPv4: "iptables-legacy-save", IPv6: "ip6tables-legacy-save"},
		map[Family]string{IPv4: "iptables-legacy-restore", IPv6: "ip6tables-legacy-restore"}},
}

// restoreArgs: --noflush keeps everything the script does not name; --wait
// waits for the xtables lock that legacy iptables takes (nft ignores it).
var restoreArgs = []string{"--noflush", "--wait=10"}

// ipv6Enabled reports whether the kernel has IPv6 at all (not booted with
// ipv6.disable=1); without it ip6tables cannot work and is not needed.
func ipv6Enabled() bool {
	_, err := os.Stat("/proc/sys/net/ipv6")
	return err == nil
}

// Install implements Firewall.
func (t *IPTables) Install(ctx context.Context, r *Rules) ([]Change, error) {
	changes, err := t.plan(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		if err := t.apply(ctx, c); err != nil {
			// Half an install would protect one family, or keep an old
			// rule set in the other; none at all is the state fail-open
			// is for. Clean up even if ctx was what ended the install.
			if _, rerr := t.Remove(context.WithoutCancel(ctx)); rerr != nil {
				return nil, fmt.Errorf("%w; removing sipprot's rules again also failed: %v", err, rerr)
			}
			return nil, fmt.Errorf("%w (sipprot's rules are removed)", err)
		}
	}
	return changes, nil
}

// Show implements Firewall.
func (t *IPTables) Show(ctx context.Context, r *Rules) ([]Change, error) {
	return t.plan(ctx, r)
}

// Remove implements Firewall. It looks in both variants, since an earlier
// install may have used the other one.
func (t *IPTables) Remove(ctx context.Context) ([]Change, error) {
	vs := t.available()
	if len(vs) == 0 {
		return nil, ErrNoIPTables
	}
	var (
		done []Change
		errs []error
	)
	for _, f := range t.families() {
		read := 0
		var readErrs []error
		for _, v := range vs {
			rs, err := t.read(ctx, v, f)
			if err != nil {
				readErrs = append(readErrs, err)
				continue
			}
			read++
			s := rs.removal(f)
			if s == "" {
				continue
			}
			c := Change{Family: f, Backend: v.backend, Command: t.restoreCommand(v, f), Script: s, Removal: true}
			if err := t.apply(ctx, c); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, c)
		}
		// A variant the kernel does not support cannot hold sipprot's
		// rules; only when none could be read is something wrong.
		if read == 0 {
			errs = append(errs, readErrs...)
		}
	}
	return done, errors.Join(errs...)
}

// plan returns what Install would apply: per family, sipprot's rules with
// the chosen variant, then the removal of what the other variant holds.
func (t *IPTables) plan(ctx context.Context, r *Rules) ([]Change, error) {
	vs := t.available()
	if len(vs) == 0 {
		return nil, ErrNoIPTables
	}
	var out []Change
	for _, f := range t.families() {
		states := make(map[Backend]*ruleset, len(vs))
		var readErrs []error
		for _, v := range vs {
			rs, err := t.read(ctx, v, f)
			if err != nil {
				readErrs = append(readErrs, err)
				continue
			}
			states[v.backend] = rs
		}
		v, err := t.choose(ctx, f, vs, states)
		if err != nil {
			return nil, errors.Join(append([]error{err}, readErrs...)...)
		}
		p := r.plan(f)
		out = append(out, Change{
			Family:  f,
			Backend: v.backend,
			Command: t.restoreCommand(v, f),
			Script:  p.script(states[v.backend].cleanup(p.chains)),
		})
		for _, o := range vs {
			if rs := states[o.backend]; o.backend != v.backend && rs != nil && rs.installed() {
				out = append(out, Change{Family: f, Backend: o.backend, Command: t.restoreCommand(o, f), Script: rs.removal(f), Removal: true})
			}
		}
	}
	return out, nil
}

// choose picks the variant to install with: the one asked for; else the
// one that holds sipprot's rules; else the one that holds the host's rules
// if only one does; else the one `iptables -V` names; else the first.
func (t *IPTables) choose(ctx context.Context, f Family, vs []variant, states map[Backend]*ruleset) (variant, error) {
	if t.backend != Auto {
		for _, v := range vs {
			if v.backend == t.backend {
				if states[v.backend] == nil {
					return variant{}, fmt.Errorf("%s: cannot read the %s rules of iptables-%s", f, f, t.backend)
				}
				return v, nil
			}
		}
		return variant{}, fmt.Errorf("%s: iptables-%s is not installed", f, t.backend)
	}
	var readable []variant
	for _, v := range vs {
		if states[v.backend] != nil {
			readable = append(readable, v)
		}
	}
	if len(readable) == 0 {
		return variant{}, fmt.Errorf("%s: cannot read the current rules with any iptables variant", f)
	}
	only := func(pred func(*ruleset) bool) (variant, bool) {
		var found []variant
		for _, v := range readable {
			if pred(states[v.backend]) {
				found = append(found, v)
			}
		}
		if len(found) == 1 {
			return found[0], true
		}
		return variant{}, false
	}
	if v, ok := only((*ruleset).installed); ok {
		return v, nil
	}
	if v, ok := only((*ruleset).hostRules); ok {
		return v, nil
	}
	if b := t.defaultBackend(ctx, f); b != "" {
		for _, v := range readable {
			if v.backend == b {
				return v, nil
			}
		}
	}
	return readable[0], nil
}

// defaultBackend returns the variant that plain `iptables` is on this host
// ("iptables v1.8.9 (nf_tables)"), or "" if that cannot be told.
func (t *IPTables) defaultBackend(ctx context.Context, f Family) Backend {
	name := "iptables"
	if f == IPv6 {
		name = "ip6tables"
	}
	if _, err := t.lookPath(name); err != nil {
		return ""
	}
	out, err := t.run(ctx, "", append(append([]string(nil), t.prefix...), name, "-V"))
	if err != nil {
		return ""
	}
	switch {
	case strings.Contains(out, "(nf_tables)"):
		return NFT
	case strings.Contains(out, "(legacy)"), strings.HasPrefix(out, name+" v"):
		// Before 1.8 there was only legacy, and -V did not say.
		return Legacy
	}
	return ""
}

// available returns the variants whose tools are installed.
func (t *IPTables) available() []variant {
	var out []variant
	for _, v := range variants {
		ok := true
		for _, f := range Families {
			for _, name := range []string{v.save[f], v.restore[f]} {
				if _, err := t.lookPath(name); err != nil {
					ok = false
				}
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

func (t *IPTables) families() []Family {
	if t.ipv6() {
		return Families
	}
	return []Family{IPv4}
}

// read returns the filter table of family f in variant v. It runs *-save
// without -t, which lists only tables that exist: asking for the filter
// table by name would create it.
func (t *IPTables) read(ctx context.Context, v variant, f Family) (*ruleset, error) {
	out, err := t.run(ctx, "", append(append([]string(nil), t.prefix...), v.save[f]))
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", f, v.backend, err)
	}
	rs, err := parseSave(out)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %s: %w", f, v.backend, v.save[f], err)
	}
	return rs, nil
}

func (t *IPTables) restoreCommand(v variant, f Family) []string {
	return append([]string{v.restore[f]}, restoreArgs...)
}

var failedLine = regexp.MustCompile(`line (\d+) failed`)

// apply runs one change. When restore names the line it failed on, the
// error quotes that line of the script.
func (t *IPTables) apply(ctx context.Context, c Change) error {
	argv := append(append([]string(nil), t.prefix...), c.Command...)
	_, err := t.run(ctx, c.Script, argv)
	if err == nil {
		return nil
	}
	if m := failedLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		if lines := strings.Split(c.Script, "\n"); n >= 1 && n <= len(lines) {
			err = fmt.Errorf("%w (script line %d: %s)", err, n, lines[n-1])
		}
	}
	return fmt.Errorf("%s (%s): %w", c.Family, c.Backend, err)
}

// runCommand runs argv with stdin and returns its standard output; a
// failure carries the command and its standard error.
func runCommand(ctx context.Context, stdin string, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		name := strings.Join(argv, " ")
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return "", fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return stdout.String(), nil
}
