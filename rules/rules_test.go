package rules

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/internal/testutil"
)

// goldenCases are configs whose scripts are checked against
// testdata/<name>.v4 and .v6.
var goldenCases = []struct {
	name string
	toml string
}{
	{"default", ""},
	{"forward", `
[queue]
mode = "forward"
`},
	{"udp-count4-closed", `
[sip]
protocols = ["udp"]
[queue]
number = 10
count = 4
fail_open = false
`},
	{"tcp-ranges-split", `
[sip]
protocols = ["tcp"]
ports = ["5060", "5062:5063", "5070", "5080:5089", "5100", "5110", "5120", "5130",
         "5140", "5150", "5160:5161", "5170", "5180", "5190", "5200", "5210:5219", "6000"]
[tftp]
enabled = false
`},
	{"no-tftp-no-dns-no-guard", `
[tftp]
enabled = false
[dns]
enabled = false
[queue]
guard_pps = 0
`},
	{"exempt", `
[queue]
guard_pps = 2000
guard_exempt = ["198.51.100.0/24", "203.0.113.7", "2001:db8:10::/48", "2001:db8::1"]
`},
	{"forward-exempt-count2", `
[sip]
ports = ["5060:5061"]
[queue]
mode = "forward"
count = 2
guard_exempt = ["203.0.113.0/24", "2001:db8:1::/64"]
`},
	{"exempt-all-v4", `
[queue]
guard_exempt = ["0.0.0.0/0"]
`},
	{"forward-no-dns-tftp-in-range", `
[sip]
protocols = ["udp", "tcp"]
ports = ["60:70", "5060"]
[dns]
enabled = false
[queue]
mode = "forward"
guard_pps = 0
`},
}

func rulesFrom(t *testing.T, toml string) *Rules {
	t.Helper()
	c, err := conf.Parse("test.conf", []byte(toml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	r, err := New(SettingsOf(c))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func TestGoldenScripts(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r := rulesFrom(t, tc.toml)
			v4, v6 := r.Scripts()
			for ext, got := range map[string]string{"v4": v4, "v6": v6} {
				testutil.Golden(t, filepath.Join("testdata", tc.name+"."+ext), []byte(got))
			}
		})
	}
}

// TestScriptProperties checks what the golden files show, so that a careless
// -update cannot bless a broken script.
func TestScriptProperties(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r := rulesFrom(t, tc.toml)
			for _, f := range Families {
				s := r.Script(f)
				lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
				if lines[len(lines)-1] != "COMMIT" {
					t.Errorf("%s: does not end with COMMIT", f)
				}
				declared := map[string]bool{}
				for _, l := range lines {
					if strings.HasPrefix(l, ":") {
						name := strings.Fields(l[1:])[0]
						if !strings.HasPrefix(name, ChainPrefix) {
							t.Errorf("%s: declares %s, not a sipprot chain", f, name)
						}
						declared[name] = true
					}
				}
				for _, l := range lines {
					f := strings.Fields(l)
					if len(f) == 0 || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ":") || l == "*filter" || l == "COMMIT" {
						continue
					}
					switch f[0] {
					case "-A":
						if !declared[f[1]] {
							t.Errorf("rule appends to a chain it does not own: %s", l)
						}
						if strings.Count(l, "--dports")+strings.Count(l, "--sports") > 0 {
							if n := multiportSize(l); n > maxMultiportSize {
								t.Errorf("multiport over %d ports (%d): %s", maxMultiportSize, n, l)
							}
						}
					case "-I":
						if len(f) != 5 || f[2] != "1" || !declared[f[4]] {
							t.Errorf("hook is not a bare jump at position 1: %s", l)
						}
					default:
						t.Errorf("unexpected line in a fresh script: %s", l)
					}
				}
				if r.guardPPS > 0 && !strings.Contains(s, "--hashlimit-name sp"+string('0'+rune(f))) {
					if _, all := r.exemptFor(f); !all {
						t.Errorf("%s: guard_pps %d but no hashlimit", f, r.guardPPS)
					}
				}
			}
		})
	}
}

func multiportSize(rule string) int {
	f := strings.Fields(rule)
	for i, a := range f {
		if (a == "--dports" || a == "--sports") && i+1 < len(f) {
			n := 0
			for _, p := range strings.Split(f[i+1], ",") {
				n++
				if strings.Contains(p, ":") {
					n++
				}
			}
			return n
		}
	}
	return 0
}

func TestPortMatchesSplit(t *testing.T) {
	var ports []conf.PortRange
	for i := 0; i < 21; i++ {
		ports = append(ports, conf.PortRange{Lo: uint16(6000 + 10*i), Hi: uint16(6000 + 10*i + i%2)})
	}
	got := portMatches("udp", "d", ports)
	seen := 0
	for _, m := range got {
		if n := multiportSize(m); n > maxMultiportSize {
			t.Errorf("rule over the limit (%d): %s", n, m)
		}
		seen += len(strings.Split(strings.Fields(m)[5], ","))
	}
	if seen != len(ports) {
		t.Errorf("rules cover %d entries, want %d: %q", seen, len(ports), got)
	}
	if len(got) != 3 { // 31 ports' worth in rules of at most 15
		t.Errorf("got %d rules, want 3: %q", len(got), got)
	}
	one := portMatches("tcp", "s", ports[1:2])
	if len(one) != 1 || one[0] != "-p tcp -m tcp --sport 6010:6011" {
		t.Errorf("single range: %q", one)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *conf.Config)
	}{
		{"guard too fast", func(c *conf.Config) { c.Queue.GuardPPS = maxGuardPPS + 1 }},
		{"guard negative", func(c *conf.Config) { c.Queue.GuardPPS = -1 }},
		{"mode", func(c *conf.Config) { c.Queue.Mode = "bridge" }},
		{"queues past 65535", func(c *conf.Config) { c.Queue.Number, c.Queue.Count = 65535, 2 }},
		{"no count", func(c *conf.Config) { c.Queue.Count = 0 }},
		{"no protocol", func(c *conf.Config) { c.SIP.Protocols = nil }},
		{"no port", func(c *conf.Config) { c.SIP.Ports = nil }},
		{"bad range", func(c *conf.Config) { c.SIP.Ports = []conf.PortRange{{Lo: 10, Hi: 5}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conf.Defaults()
			tc.edit(c)
			_, err := New(SettingsOf(c))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	c := conf.Defaults()
	c.Queue.GuardPPS = maxGuardPPS
	r, err := New(SettingsOf(c))
	if err != nil {
		t.Fatalf("guard at the maximum: %v", err)
	}
	if name := hashlimitName(IPv6, "req", maxGuardPPS); len(name) > 15 {
		t.Errorf("hashlimit name %q is over 15 characters", name)
	}
	if !strings.Contains(r.Script(IPv4), "--hashlimit-burst 1000000 ") {
		t.Errorf("burst at the maximum rate is not 1000000:\n%s", r.Script(IPv4))
	}
}

// TestHashlimitNameFollowsRate: the kernel keeps a hashlimit table's
// settings for as long as a rule uses its name, so a new rate needs a new
// name.
func TestHashlimitNameFollowsRate(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Families {
		for _, kind := range []string{"req", "rep"} {
			for _, pps := range []int{1, 500, 501, 1000000} {
				n := hashlimitName(f, kind, pps)
				if seen[n] {
					t.Errorf("name %q used twice", n)
				}
				seen[n] = true
			}
		}
	}
}

func TestTFTPCoveredBySIPRange(t *testing.T) {
	r := rulesFrom(t, "[sip]\nprotocols = [\"udp\"]\nports = [\"60:70\"]\n")
	if s := r.Script(IPv4); strings.Contains(s, "--dport 69") {
		t.Errorf("TFTP has its own rule although 60:70 covers it:\n%s", s)
	}
	r = rulesFrom(t, "[sip]\nprotocols = [\"tcp\"]\nports = [\"60:70\"]\n")
	if s := r.Script(IPv4); !strings.Contains(s, "-p udp -m udp --dport 69 ") {
		t.Errorf("TFTP lost when only TCP covers port 69:\n%s", s)
	}
}

func TestDNSLimits(t *testing.T) {
	// The smallest packet -m length drops holds a 2049-byte message.
	if got := dnsUDPMinLength(IPv4); got != 20+8+2049 {
		t.Errorf("IPv4 limit %d", got)
	}
	if got := dnsUDPMinLength(IPv6); got != 40+8+2049 {
		t.Errorf("IPv6 limit %d", got)
	}
}
