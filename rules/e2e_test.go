//go:build e2e

package rules

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// hostRuleset is a host's own firewall, installed before sipprot: an
// ESTABLISHED,RELATED ACCEPT first, chains and tables of its own, a
// comment with quotes.
var hostRuleset = map[Family]string{
	IPv4: `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:HOST-IN - [0:0]
:HOST-LOG - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "admin \"ssh\" -j SIPPROT-INPUT" -j HOST-IN
-A INPUT -p udp -m udp --dport 5060 -j ACCEPT
-A INPUT -j HOST-LOG
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -o lo -j ACCEPT
-A HOST-IN -s 192.0.2.0/24 -j ACCEPT
-A HOST-LOG -m limit --limit 5/min -j LOG --log-prefix "drop: "
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
COMMIT
`,
	IPv6: `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:HOST-IN - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j HOST-IN
-A HOST-IN -s 2001:db8::/32 -j ACCEPT
COMMIT
`,
}

func restoreCmd(b Backend, f Family) string {
	if b == Legacy {
		return variants[1].restore[f]
	}
	return variants[0].restore[f]
}

func saveCmd(b Backend, f Family) string {
	if b == Legacy {
		return variants[1].save[f]
	}
	return variants[0].save[f]
}

// loadHost installs the host's own ruleset with backend b.
func loadHost(t *testing.T, ns netnstest.NS, b Backend) {
	t.Helper()
	for _, f := range Families {
		ns.Output(t, hostRuleset[f], restoreCmd(b, f))
	}
}

// checkInstalled checks that ns holds exactly r's rules in backend b: each
// sipprot chain has the script's rules, each hook is the first rule of its
// built-in chain, and nothing of the host's changed.
func checkInstalled(t *testing.T, ns netnstest.NS, b Backend, r *Rules, before map[string]string) {
	t.Helper()
	for _, f := range Families {
		rs, err := parseSave(ns.Output(t, "", saveCmd(b, f)))
		if err != nil {
			t.Fatal(err)
		}
		p := r.plan(f)
		want := map[string][]string{}
		for _, l := range p.body {
			if strings.HasPrefix(l, "-A ") {
				c := strings.Fields(l)[1]
				want[c] = append(want[c], l)
			}
		}
		if got := rs.sipprotChains(); !sameSet(got, p.chains) {
			t.Errorf("%s: chains %q, want %q", f, got, p.chains)
		}
		for _, c := range p.chains {
			if !slices.Equal(rs.rules[c], want[c]) {
				t.Errorf("%s: chain %s holds\n%s\nwant\n%s", f, c, strings.Join(rs.rules[c], "\n"), strings.Join(want[c], "\n"))
			}
		}
		for _, h := range p.hooks {
			if first := rs.rules[h.builtin]; len(first) == 0 || first[0] != "-A "+h.builtin+" -j "+h.chain {
				t.Errorf("%s: %s does not start with the jump to %s: %q", f, h.builtin, h.chain, first)
			}
		}
		if n := len(rs.jumps()); n != len(p.hooks) {
			t.Errorf("%s: %d jumps to sipprot chains, want %d", f, n, len(p.hooks))
		}
		// The host's own rules are still all there, in the same order.
		hostRS, err := parseSave(before[saveCmd(b, f)])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range hostRS.chains {
			var kept []string
			for _, l := range rs.rules[c] {
				if tgt := ruleTarget(l); !ours(tgt) {
					kept = append(kept, l)
				}
			}
			if !slices.Equal(kept, hostRS.rules[c]) {
				t.Errorf("%s: host chain %s changed:\n%s", f, c, strings.Join(rs.rules[c], "\n"))
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestInstallRemoveRestoresRuleset: install, install again, remove, remove
// again, on a host with its own firewall, with each backend; the ruleset
// after remove is the one before install, in both variants and families.
func TestInstallRemoveRestoresRuleset(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, b := range []Backend{NFT, Legacy} {
		for _, tc := range goldenCases {
			t.Run(string(b)+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				ns := newNetns(t)
				loadHost(t, ns, b)
				before := saveAll(t, ns)
				r := rulesFrom(t, tc.toml)
				fw := NewIPTables(Auto, ns.Command()...)

				changes, err := fw.Install(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if len(changes) != 2 {
					t.Fatalf("install made %d changes, want 2: %+v", len(changes), changes)
				}
				for _, c := range changes {
					if c.Backend != b || c.Removal {
						t.Errorf("%s: installed with %s (removal %v), want %s: the host's rules are there", c.Family, c.Backend, c.Removal, b)
					}
				}
				checkInstalled(t, ns, b, r, before)
				first := saveAll(t, ns)

				if _, err := fw.Install(ctx, r); err != nil {
					t.Fatalf("second install: %v", err)
				}
				diffSaves(t, "second install", saveAll(t, ns), first)

				removed, err := fw.Remove(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(removed) != 2 {
					t.Errorf("remove made %d changes, want 2", len(removed))
				}
				diffSaves(t, "after remove", saveAll(t, ns), before)

				again, err := fw.Remove(ctx)
				if err != nil || len(again) != 0 {
					t.Errorf("second remove: %v, %+v", err, again)
				}
				diffSaves(t, "after second remove", saveAll(t, ns), before)
			})
		}
	}
}

// TestReinstallOtherConfig: an install on top of another config's leaves
// only the new config's rules, and remove still restores the host's.
func TestReinstallOtherConfig(t *testing.T) {
	netnstest.RequireRoot(t)
	ctx := context.Background()
	ns := newNetns(t)
	loadHost(t, ns, NFT)
	before := saveAll(t, ns)
	fw := NewIPTables(Auto, ns.Command()...)
	for _, tc := range goldenCases {
		r := rulesFrom(t, tc.toml)
		if _, err := fw.Install(ctx, r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkInstalled(t, ns, NFT, r, before)
	}
	if _, err := fw.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	diffSaves(t, "after remove", saveAll(t, ns), before)
}

// TestSwitchBackend: installing with the other variant takes sipprot's
// rules out of the first.
func TestSwitchBackend(t *testing.T) {
	netnstest.RequireRoot(t)
	ctx := context.Background()
	ns := newNetns(t)
	loadHost(t, ns, NFT)
	// Let the legacy tables exist, as they do on a host that used them once.
	for _, f := range Families {
		ns.Output(t, "*filter\nCOMMIT\n", restoreCmd(Legacy, f))
	}
	before := saveAll(t, ns)
	r := rulesFrom(t, "")
	prefix := ns.Command()
	if _, err := NewIPTables(NFT, prefix...).Install(ctx, r); err != nil {
		t.Fatal(err)
	}
	changes, err := NewIPTables(Legacy, prefix...).Install(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var removals int
	for _, c := range changes {
		if c.Removal {
			removals++
			if c.Backend != NFT {
				t.Errorf("removal from %s", c.Backend)
			}
		}
	}
	if removals != 2 {
		t.Errorf("%d removals from nft, want 2: %+v", removals, changes)
	}
	after := saveAll(t, ns)
	for _, c := range []string{"iptables-nft-save", "ip6tables-nft-save"} {
		if after[c] != before[c] {
			t.Errorf("%s still differs:\n%s", c, after[c])
		}
	}
	if !strings.Contains(after["iptables-legacy-save"], "-A INPUT -j SIPPROT-INPUT") {
		t.Errorf("not installed in legacy:\n%s", after["iptables-legacy-save"])
	}
	// A new Auto firewall finds them there.
	if _, err := NewIPTables(Auto, prefix...).Remove(ctx); err != nil {
		t.Fatal(err)
	}
	diffSaves(t, "after remove", saveAll(t, ns), before)
}

// TestRemoveAfterCrash: a process installs the rules and is killed; a new
// process removes them.
func TestRemoveAfterCrash(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, b := range []Backend{NFT, Legacy} {
		t.Run(string(b), func(t *testing.T) {
			ns := newNetns(t)
			loadHost(t, ns, b)
			before := saveAll(t, ns)

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInstallAndDie$")
			cmd.Env = append(os.Environ(), "SIPPROT_RULES_HELPER_NS="+string(ns))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper did not die by SIGKILL: %v\n%s", err, out)
			}
			checkInstalled(t, ns, b, rulesFrom(t, ""), before)

			changes, err := NewIPTables(Auto, ns.Command()...).Remove(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 2 {
				t.Errorf("remove made %d changes, want 2", len(changes))
			}
			diffSaves(t, "after remove", saveAll(t, ns), before)
		})
	}
}

// TestHelperInstallAndDie is TestRemoveAfterCrash's crashing process.
func TestHelperInstallAndDie(t *testing.T) {
	ns := os.Getenv("SIPPROT_RULES_HELPER_NS")
	if ns == "" {
		t.Skip("helper process for TestRemoveAfterCrash")
	}
	if _, err := NewIPTables(Auto, netnstest.NS(ns).Command()...).Install(context.Background(), rulesFrom(t, "")); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestFreshNamespace: on a host with no firewall at all, remove after
// install leaves only the empty built-in chains that iptables-nft creates.
func TestFreshNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	ctx := context.Background()
	ns := newNetns(t)
	fw := NewIPTables(Auto, ns.Command()...)
	changes, err := fw.Install(ctx, rulesFrom(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if want := fw.defaultBackend(ctx, c.Family); want != "" && c.Backend != want {
			t.Errorf("%s: %s, want %s (iptables -V)", c.Family, c.Backend, want)
		}
	}
	if _, err := fw.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	for c, s := range saveAll(t, ns) {
		if strings.Contains(s, "SIPPROT") || strings.Contains(s, "-A ") {
			t.Errorf("%s after remove:\n%s", c, s)
		}
	}
}
