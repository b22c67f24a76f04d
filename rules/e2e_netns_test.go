//go:build e2e

package rules

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Kernel tests: run as root with `go test -tags e2e ./rules/`. Every test
// works in network namespaces it made itself (named sp-r-*), and never
// touches the firewall of the namespace it runs in.

var nsCount atomic.Int32

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces and iptables)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
}

// newNetns makes an empty network namespace with lo up, deleted when the
// test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("sp-r-%d-%d", os.Getpid(), nsCount.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	nsRun(t, name, "", "ip", "link", "set", "lo", "up")
	return name
}

// nsRun runs argv in namespace ns and returns its standard output.
func nsRun(t *testing.T, ns, stdin string, argv ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(argv, " "), err, stderr.String())
	}
	return string(out)
}

// inNetns runs fn on a thread switched into namespace ns. Sockets that fn
// opens stay in ns after it returns. The thread is never unlocked, so Go
// discards it rather than reuse it in the wrong namespace.
func inNetns(t *testing.T, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
}

// saveCommands are every save command; tests compare all of them, so a
// change in the variant sipprot did not use shows up too.
var saveCommands = []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save"}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saveAll returns each save command's output without comment lines and
// with the chains' counters zeroed.
func saveAll(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range saveCommands {
		var b strings.Builder
		for _, l := range strings.Split(nsRun(t, ns, "", c), "\n") {
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
func ruleCounter(t *testing.T, ns, cmd string, parts ...string) int {
	t.Helper()
	var found []string
	for _, l := range strings.Split(nsRun(t, ns, "", cmd, "-c"), "\n") {
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
