package cli

import (
	"slices"
	"strings"
	"testing"
)

// complete asks cobra's hidden completion command what a shell would be
// offered after args, as the bash, zsh and fish scripts do.
func (f *listFixture) complete(args ...string) []string {
	f.t.Helper()
	out, _, err := runCLI(f.t, append([]string{"__complete", "--config", f.cfg}, args...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	var words []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ":") || strings.HasPrefix(l, "Completion ended") {
			continue
		}
		words = append(words, strings.SplitN(l, "\t", 2)[0])
	}
	return words
}

func TestCompletion(t *testing.T) {
	f := checkFixture(t)
	f.write("denylist", "203.0.113.9 scanner\n203.0.113.0/24 scanners\n")
	tests := []struct {
		args      []string
		want, not []string
	}{
		{[]string{""}, []string{"status", "report", "check", "allow", "deny", "unblock", "replay", "rules", "geoip", "config", "completion"}, nil},
		{[]string{"status", "--"}, []string{"--all", "--allow", "--deny", "--dynamic", "--json"}, nil},
		// The hosts on the list (a network is removed as written: offered too).
		{[]string{"allow", "remove", ""}, []string{"192.0.2.7", "192.0.2.0/24"}, []string{"203.0.113.9"}},
		{[]string{"deny", "remove", ""}, []string{"203.0.113.9", "203.0.113.0/24"}, []string{"192.0.2.7"}},
		// Blocks in force, not the expired one.
		{[]string{"unblock", ""}, []string{"198.51.100.66", "2001:db8::66", "203.0.113.5"}, []string{"198.51.100.67"}},
		{[]string{"check", ""}, []string{"192.0.2.7", "203.0.113.9", "198.51.100.66"}, []string{"198.51.100.67"}},
	}
	for _, tt := range tests {
		got := f.complete(tt.args...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("sipprot %s<TAB>: %q missing from %q", strings.Join(tt.args, " "), w, got)
			}
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("sipprot %s<TAB>: %q offered", strings.Join(tt.args, " "), w)
			}
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, err := runCLI(t, "completion", sh)
		if err != nil || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: %v\n%.200s", sh, err, out)
		}
	}
}
