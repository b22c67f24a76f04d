//go:build e2e

// Package e2e holds sipprot's end-to-end tests: real parts (Kamailio,
// sipvicious, sipp, iptables with NFQUEUE, the sipprot binary) wired
// together in network namespaces, asserting from Kamailio's own log of the
// requests it received. Run as root:
//
//	go test -tags e2e -v -count=1 ./e2e/
//
// See README.md in this directory for the scenarios.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sipprotBin is the sipprot binary that TestMain builds from the module
// root; every test runs this one.
var sipprotBin string

// tools are the programs the tests drive; a missing one fails the test.
var tools = []string{
	"ip", "ss", "iptables", "ip6tables", "iptables-save", "ip6tables-save",
	"nft", "kamailio", "sipp", "svmap", "svwar", "svcrack", "tcpdump", "tshark",
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sipprot-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sipprotBin = filepath.Join(dir, "sipprot")
	build := exec.Command("go", "build", "-o", sipprotBin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -o %s ..: %v\n%s", sipprotBin, err, out)
		return 1
	}
	return m.Run()
}

// requireEnv skips the test when not run as root (network namespaces and
// netfilter need it) and fails it when a tool it drives is missing.
func requireEnv(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests build network namespaces: run as root")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing tools %v (Debian: apt-get install iproute2 iptables nftables kamailio sip-tester sipvicious tcpdump tshark)", missing)
	}
}

// requireDaemon fails the test unless the built binary has the daemon
// (`sipprot run`) and the rule installer (`sipprot rules`).
func requireDaemon(t *testing.T) {
	t.Helper()
	for _, sub := range []string{"run", "rules"} {
		out, err := exec.Command(sipprotBin, sub, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("sipprot %s --help: %v\n%s", sub, err, out)
		}
	}
}

// logDir returns the directory for a test's logs and files: a fresh
// temporary directory, or $SIPPROT_E2E_LOGS/<test name> (kept after the
// run) when that variable is set.
func logDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SIPPROT_E2E_LOGS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, filepath.FromSlash(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
