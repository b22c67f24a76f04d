package cli

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sipprot/sipprot/rules"
)

func TestRulesCommands(t *testing.T) {
	dry := &rules.DryRun{}
	var asked []rules.Backend
	runCLI := func(t *testing.T, args ...string) (string, string, error) {
		return runCLIWith(t, Deps{NewFirewall: func(b rules.Backend) rules.Firewall { asked = append(asked, b); return dry }}, args...)
	}
	cfg := writeFile(t, "")
	golden4, err := os.ReadFile("../rules/testdata/default.v4")
	if err != nil {
		t.Fatal(err)
	}
	golden6, err := os.ReadFile("../rules/testdata/default.v6")
	if err != nil {
		t.Fatal(err)
	}

	out, _, err := runCLI(t, "rules", "show", "-4", "--config", cfg)
	if err != nil || out != string(golden4) {
		t.Errorf("show -4: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "rules", "show", "--config", cfg)
	if err != nil || out != string(golden4)+"\n"+string(golden6) {
		t.Errorf("show: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "rules", "show", "-4", "-6"); err == nil {
		t.Error("show -4 -6: no error")
	}

	out, _, err = runCLI(t, "rules", "install", "--iptables", "legacy", "--config", cfg)
	if err != nil || out != "IPv4: installed with iptables-nft\nIPv6: installed with iptables-nft\n" {
		t.Errorf("install: %v %q", err, out)
	}
	if asked[len(asked)-1] != rules.Legacy {
		t.Errorf("--iptables legacy asked for %s", asked[len(asked)-1])
	}
	if dry.Installed() == nil {
		t.Fatal("install installed nothing")
	}
	// With rules installed, show has the deletion of the old ones first.
	out, _, _ = runCLI(t, "rules", "show", "-6", "--config", cfg)
	if !strings.Contains(out, "-D INPUT -j SIPPROT-INPUT\n") || strings.Contains(out, "iptables-restore") {
		t.Errorf("show after install:\n%s", out)
	}

	out, _, err = runCLI(t, "rules", "remove")
	if err != nil || out != "IPv4: removed from iptables-nft\nIPv6: removed from iptables-nft\n" {
		t.Errorf("remove: %v %q", err, out)
	}
	out, _, err = runCLI(t, "rules", "remove")
	if err != nil || out != "no sipprot rules installed\n" {
		t.Errorf("second remove: %v %q", err, out)
	}

	if _, _, err := runCLI(t, "rules", "install", "--iptables", "ipfw", "--config", cfg); err == nil ||
		!strings.Contains(err.Error(), "unknown iptables variant") {
		t.Errorf("bad --iptables: %v", err)
	}
	bad := writeFile(t, "[queue]\nguard_pps = 2000000\n")
	// The config itself refuses what hashlimit would.
	if _, _, err := runCLI(t, "rules", "show", "--config", bad); err == nil || !strings.Contains(err.Error(), "queue.guard_pps") {
		t.Errorf("guard over the maximum: %v", err)
	}
}

// failing is a Firewall that cannot read the host's rules (not root).
type failing struct{}

var errDenied = errors.New("Permission denied (you must be root)")

func (*failing) Install(context.Context, *rules.Rules) ([]rules.Change, error) { return nil, errDenied }
func (*failing) Remove(context.Context) ([]rules.Change, error)                { return nil, errDenied }
func (*failing) Show(context.Context, *rules.Rules) ([]rules.Change, error)    { return nil, errDenied }

func TestRulesWithoutRoot(t *testing.T) {
	runCLI := func(t *testing.T, args ...string) (string, string, error) {
		return runCLIWith(t, Deps{NewFirewall: func(rules.Backend) rules.Firewall { return &failing{} }}, args...)
	}
	cfg := writeFile(t, "[queue]\nmode = \"forward\"\n")
	golden, err := os.ReadFile("../rules/testdata/forward.v6")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "rules", "show", "-6", "--config", cfg)
	if err != nil || out != string(golden) || !strings.Contains(stderr, "must be root") {
		t.Errorf("show: err %v, stderr %q\n%s", err, stderr, out)
	}
	_, _, err = runCLI(t, "rules", "install", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "install rules: Permission denied") {
		t.Errorf("install: %v", err)
	}
	_, _, err = runCLI(t, "rules", "remove")
	if err == nil || !strings.Contains(err.Error(), "remove rules: Permission denied") {
		t.Errorf("remove: %v", err)
	}
}
