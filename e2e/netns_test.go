//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the name of every namespace these tests create, so they
// never clash with the namespaces of other tools (testdata/record.sh uses
// "sp-") and a stale one from a killed run is recognised as ours.
const nsPrefix = "sp-e-"

// docPrefixes are the only networks a test may put on an interface or a
// route: the documentation ranges.
var docPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// isDocAddr reports whether a (an address or a CIDR) lies inside a
// documentation range.
func isDocAddr(a string) bool {
	a, _, _ = strings.Cut(a, "/")
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	for _, p := range docPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// netns is a network namespace created by newNetns, named nsPrefix+...
type netns string

// newNetns creates namespace name (it must start with nsPrefix), deleting a
// stale one of that name first, brings lo up and turns off IPv6 duplicate
// address detection and router advertisements. The namespace, and every
// process still running in it, is removed when the test ends.
func newNetns(t *testing.T, name string) netns {
	t.Helper()
	if !strings.HasPrefix(name, nsPrefix) {
		t.Fatalf("namespace %q must start with %q", name, nsPrefix)
	}
	n := netns(name)
	if n.exists() {
		t.Logf("removing stale namespace %s (left by an earlier, killed run)", n)
		n.remove()
	}
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(n.remove)
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	for _, kv := range []string{
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
	} {
		n.sysctl(t, kv)
	}
	return n
}

// exists reports whether the namespace is present.
func (n netns) exists() bool {
	_, err := os.Stat("/run/netns/" + string(n))
	return err == nil
}

// pids lists the processes running inside the namespace.
func (n netns) pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", string(n)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAll stops every process inside the namespace (TERM, then KILL after
// three seconds). Only our own processes run in a namespace we created.
func (n netns) killAll() {
	sig := syscall.SIGTERM
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := n.pids()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		if sig == syscall.SIGKILL && time.Now().After(deadline.Add(2*time.Second)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// remove stops what runs inside the namespace and deletes it (its veth
// ends go with it).
func (n netns) remove() {
	if !n.exists() {
		return
	}
	n.killAll()
	_ = exec.Command("ip", "netns", "del", string(n)).Run()
}

// run runs a command inside the namespace and returns its combined output;
// the test fails on a non-zero exit.
func (n netns) run(t *testing.T, args ...string) string {
	t.Helper()
	return mustRun(t, append([]string{"ip", "netns", "exec", string(n)}, args...)...)
}

// try runs a command inside the namespace and returns its combined output
// and error.
func (n netns) try(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", string(n)}, args...)...).CombinedOutput()
	return string(out), err
}

// sysctl sets a per-namespace sysctl (KEY=VALUE).
func (n netns) sysctl(t *testing.T, kv string) {
	t.Helper()
	n.run(t, "sysctl", "-q", "-w", kv)
}

// forwarding makes the namespace a router for IPv4 and IPv6.
func (n netns) forwarding(t *testing.T) {
	t.Helper()
	n.sysctl(t, "net.ipv4.ip_forward=1")
	n.sysctl(t, "net.ipv6.conf.all.forwarding=1")
}

// link creates a veth pair with end ifa in a and ifb in b, both up. It is
// created inside the namespaces: nothing appears in the root namespace.
func link(t *testing.T, a netns, ifa string, b netns, ifb string) {
	t.Helper()
	mustRun(t, "ip", "-n", string(a), "link", "add", ifa, "type", "veth", "peer", "name", ifb, "netns", string(b))
	mustRun(t, "ip", "-n", string(a), "link", "set", ifa, "up")
	mustRun(t, "ip", "-n", string(b), "link", "set", ifb, "up")
}

// bridge creates bridge br inside the namespace and enslaves ports to it.
func (n netns) bridge(t *testing.T, br string, ports ...string) {
	t.Helper()
	mustRun(t, "ip", "-n", string(n), "link", "add", br, "type", "bridge")
	mustRun(t, "ip", "-n", string(n), "link", "set", br, "up")
	for _, p := range ports {
		mustRun(t, "ip", "-n", string(n), "link", "set", p, "master", br)
	}
}

// addr adds addresses (CIDR notation, documentation ranges only) to dev.
func (n netns) addr(t *testing.T, dev string, cidrs ...string) {
	t.Helper()
	for _, c := range cidrs {
		if !isDocAddr(c) {
			t.Fatalf("refusing address %s outside the documentation ranges", c)
		}
		if strings.Contains(c, ":") {
			mustRun(t, "ip", "-n", string(n), "-6", "addr", "add", c, "dev", dev, "nodad")
		} else {
			mustRun(t, "ip", "-n", string(n), "addr", "add", c, "dev", dev)
		}
	}
}

// route adds a route to dest ("default" or a documentation prefix) via gw.
func (n netns) route(t *testing.T, dest, gw string) {
	t.Helper()
	if !isDocAddr(gw) || (dest != "default" && !isDocAddr(dest)) {
		t.Fatalf("refusing route %s via %s outside the documentation ranges", dest, gw)
	}
	fam := "-4"
	if strings.Contains(gw, ":") {
		fam = "-6"
	}
	mustRun(t, "ip", "-n", string(n), fam, "route", "add", dest, "via", gw)
}

// listening reports whether something listens on proto ("udp"/"tcp")
// addr:port inside the namespace.
func (n netns) listening(proto string, ap netip.AddrPort) bool {
	flag := "-Hlnu"
	if proto == "tcp" {
		flag = "-Hlnt"
	}
	out, err := n.try("ss", flag)
	if err != nil {
		return false
	}
	want := ap.String()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == want {
			return true
		}
	}
	return false
}

// do runs fn on an OS thread switched into the namespace, then switches
// the thread back. Sockets fn creates stay in the namespace for their
// whole life, wherever they are used afterwards.
func (n netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is unlocked only once it is back in the original
		// namespace; otherwise it ends with this goroutine.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + string(n))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back from %s: %w", n, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// listenUDP opens a UDP socket bound to laddr inside the namespace.
func (n netns) listenUDP(t *testing.T, laddr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(laddr))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen udp %s: %v", n, laddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustRun runs a command (in the root namespace: only "ip" commands that
// address a namespace are run this way) and returns its combined output;
// the test fails on a non-zero exit.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitFor polls cond every 20 ms until it holds or timeout passes, and
// reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
