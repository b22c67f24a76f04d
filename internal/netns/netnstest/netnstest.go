// Package netnstest builds test networks from network namespaces: New
// makes one (removed when the test ends), Link joins two with a veth pair,
// Addr and Route number and route them within the documentation ranges
// only, and Run, Do and ListenUDP work inside them. Only tests import it,
// so the sipprot binary never links package testing.
package netnstest

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns"
)

// RequireRoot skips the test unless it runs as root with ip (iproute2)
// installed, which building namespaces needs.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
}

// NS is a network namespace made by New; its value is its name.
type NS string

// New creates namespace name, deleting a stale one of that name first
// (left by an earlier, killed run), and brings lo up. The namespace, and
// every process still running in it, is removed when the test ends. Each
// package names its namespaces with its own prefix (sp-e-, sp-q-, sp-r-),
// so a stale one is recognised as that package's.
func New(t testing.TB, name string) NS {
	t.Helper()
	n := NS(name)
	if n.Exists() {
		t.Logf("removing stale namespace %s (left by an earlier, killed run)", n)
		n.Remove()
	}
	MustRun(t, "ip", "netns", "add", name)
	t.Cleanup(n.Remove)
	MustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	return n
}

// Exists reports whether the namespace is present.
func (n NS) Exists() bool {
	_, err := os.Stat(netns.Path(string(n)))
	return err == nil
}

// Pids lists the processes running inside the namespace, never the test
// itself: its main thread may be there for a moment, running Do.
func (n NS) Pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", string(n)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillAll stops every process inside the namespace (TERM, then KILL after
// three seconds). Only a test's own processes run in a namespace it made.
func (n NS) KillAll() {
	sig := syscall.SIGTERM
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := n.Pids()
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

// Remove stops what runs inside the namespace and deletes it (its veth
// ends go with it).
func (n NS) Remove() {
	if !n.Exists() {
		return
	}
	n.KillAll()
	_ = exec.Command("ip", "netns", "del", string(n)).Run()
}

// Run runs a command inside the namespace and returns its combined output;
// the test fails on a non-zero exit.
func (n NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return MustRun(t, n.Command(args...)...)
}

// Output runs a command inside the namespace with stdin as its input and
// returns its standard output alone; the test fails on a non-zero exit,
// showing the standard error.
func (n NS) Output(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	argv := n.Command(args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", n, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Try runs a command inside the namespace and returns its combined output
// and error.
func (n NS) Try(args ...string) (string, error) {
	argv := n.Command(args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// Command returns the argv that runs args inside the namespace
// (ip netns exec NAME args...), for a process the test starts itself.
func (n NS) Command(args ...string) []string {
	return append([]string{"ip", "netns", "exec", string(n)}, args...)
}

// Sysctl sets per-namespace sysctls (KEY=VALUE).
func (n NS) Sysctl(t testing.TB, kvs ...string) {
	t.Helper()
	n.Run(t, append([]string{"sysctl", "-q", "-w"}, kvs...)...)
}

// Forwarding makes the namespace a router for IPv4 and IPv6.
func (n NS) Forwarding(t testing.TB) {
	t.Helper()
	n.Sysctl(t, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
}

// Link creates a veth pair with end ifa in a and ifb in b, both up. It is
// created inside the namespaces: nothing appears in the root namespace.
func Link(t testing.TB, a NS, ifa string, b NS, ifb string) {
	t.Helper()
	MustRun(t, "ip", "-n", string(a), "link", "add", ifa, "type", "veth", "peer", "name", ifb, "netns", string(b))
	MustRun(t, "ip", "-n", string(a), "link", "set", ifa, "up")
	MustRun(t, "ip", "-n", string(b), "link", "set", ifb, "up")
}

// Bridge creates bridge br inside the namespace and enslaves ports to it.
func (n NS) Bridge(t testing.TB, br string, ports ...string) {
	t.Helper()
	MustRun(t, "ip", "-n", string(n), "link", "add", br, "type", "bridge")
	MustRun(t, "ip", "-n", string(n), "link", "set", br, "up")
	for _, p := range ports {
		MustRun(t, "ip", "-n", string(n), "link", "set", p, "master", br)
	}
}

// Addr adds addresses (CIDR notation, documentation ranges only) to dev;
// IPv6 ones skip duplicate address detection, so they work at once.
func (n NS) Addr(t testing.TB, dev string, cidrs ...string) {
	t.Helper()
	for _, c := range cidrs {
		if !IsDocAddr(c) {
			t.Fatalf("refusing address %s outside the documentation ranges", c)
		}
		if strings.Contains(c, ":") {
			MustRun(t, "ip", "-n", string(n), "-6", "addr", "add", c, "dev", dev, "nodad")
		} else {
			MustRun(t, "ip", "-n", string(n), "addr", "add", c, "dev", dev)
		}
	}
}

// Route adds a route to dest ("default" or a documentation prefix) via gw.
func (n NS) Route(t testing.TB, dest, gw string) {
	t.Helper()
	if !IsDocAddr(gw) || (dest != "default" && !IsDocAddr(dest)) {
		t.Fatalf("refusing route %s via %s outside the documentation ranges", dest, gw)
	}
	fam := "-4"
	if strings.Contains(gw, ":") {
		fam = "-6"
	}
	MustRun(t, "ip", "-n", string(n), fam, "route", "add", dest, "via", gw)
}

// Listening reports whether something listens on proto ("udp"/"tcp")
// addr:port inside the namespace.
func (n NS) Listening(proto string, ap netip.AddrPort) bool {
	flag := "-Hlnu"
	if proto == "tcp" {
		flag = "-Hlnt"
	}
	out, err := n.Try("ss", flag)
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

// Do runs fn on an OS thread inside the namespace (see netns.Do). Sockets
// fn creates stay in the namespace for their whole life, wherever they
// are used afterwards.
func (n NS) Do(fn func() error) error {
	return netns.DoNamed(string(n), fn)
}

// ListenUDP opens a UDP socket bound to laddr inside the namespace, closed
// when the test ends.
func (n NS) ListenUDP(t testing.TB, laddr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(laddr))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen udp %s: %v", n, laddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// MustRun runs a command in the root namespace (only "ip" commands that
// address a namespace are run this way) and returns its combined output;
// the test fails on a non-zero exit.
func MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// docPrefixes are the only networks a test may put on an interface or a
// route: the documentation ranges.
var docPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// IsDocAddr reports whether a (an address or a CIDR) lies inside a
// documentation range.
func IsDocAddr(a string) bool {
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
