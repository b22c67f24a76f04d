//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// nsPrefix starts the name of every namespace these tests create, so they
// never clash with the namespaces of other tools (testdata/record.sh uses
// "sp-") and a stale one from a killed run is recognised as ours.
const nsPrefix = "sp-e-"

// newNetns creates namespace name (it must start with nsPrefix) with lo
// up, removed with its processes when the test ends, and turns off IPv6
// duplicate address detection and router advertisements.
func newNetns(t *testing.T, name string) netnstest.NS {
	t.Helper()
	if !strings.HasPrefix(name, nsPrefix) {
		t.Fatalf("namespace %q must start with %q", name, nsPrefix)
	}
	n := netnstest.New(t, name)
	n.Sysctl(t, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0")
	return n
}
