//go:build e2e

package rules

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// Kernel tests: run as root with `go test -tags e2e ./rules/`. Every test
// works in network namespaces it made itself (named sp-r-*), and never
// touches the firewall of the namespace it runs in.

var nsCount atomic.Int32

// newNetns makes an empty network namespace with lo up, deleted when the
// test ends.
func newNetns(t *testing.T) netnstest.NS {
	t.Helper()
	return netnstest.New(t, fmt.Sprintf("sp-r-%d-%d", os.Getpid(), nsCount.Add(1)))
}

// saveCommands are every save command; tests compare all of them, so a
// change in the variant sipprot did not use shows up too.
var saveCommands = []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save"}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saveAll returns each save command's output without comment lines and
// with the chains' counters zeroed.
func saveAll(t *testing.T, ns netnstest.NS) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range saveCommands {
		var b strings.Builder
		for _, l := range strings.Split(ns.Output(t, "", c), "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			b.WriteString(counters.ReplaceAllString(l, "[0:0]") + "\n")
		}
		out[c] = b.String()
	}
	return out
}

func diffSaves(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for _, c := range saveCommands {
		if got[c] != want[c] {
			t.Errorf("%s: %s differs\n--- got\n%s--- want\n%s", what, c, got[c], want[c])
		}
	}
}

// ruleCounter returns the packet counter of the one rule in the saved
// rules of ns (save command cmd) that contains all of parts.
func ruleCounter(t *testing.T, ns netnstest.NS, cmd string, parts ...string) int {
	t.Helper()
	var found []string
	for _, l := range strings.Split(ns.Output(t, "", cmd, "-c"), "\n") {
		ok := strings.HasPrefix(l, "[")
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d rules in %s contain %q: %q", len(found), cmd, parts, found)
	}
	n, err := strconv.Atoi(found[0][1:strings.IndexByte(found[0], ':')])
	if err != nil {
		t.Fatalf("counter of %q: %v", found[0], err)
	}
	return n
}
