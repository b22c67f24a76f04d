package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipprot/sipprot/conf"
)

// runCLI runs the command line with args and the real dependencies, and
// returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runCLIWith(t, Deps{}, args...)
}

// runCLIWith is runCLI with deps.
func runCLIWith(t *testing.T, deps Deps, args ...string) (string, string, error) {
	t.Helper()
	root := NewRoot(deps)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sipprot.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheck(t *testing.T) {
	good := writeFile(t, "[sip]\nblock_threshold = 3\n")
	bad := writeFile(t, "[sip]\n\nblock_threshold = 30\n")
	missing := filepath.Join(t.TempDir(), "absent.conf")
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantStderr string
		wantErr    string
	}{
		{"valid file", []string{"config", "check", "--config", good}, "ok: " + good + "\n", "", ""},
		{"invalid file", []string{"config", "check", "--config", bad}, "",
			bad + ":3: sip.block_threshold: must be between 1 and 20, got 30\n", "invalid config " + bad},
		{"missing explicit file", []string{"--config", missing, "config", "check"}, "", "", "no such file"},
		{"extra argument", []string{"config", "check", "x"}, "", "", "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCLI(t, tt.args...)
			if out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
			var ee *exitError
			if tt.wantStderr != "" && (!errors.As(err, &ee) || ee.code != 1) {
				t.Errorf("error %v, want exit status 1", err)
			}
		})
	}
}

// Without --config, a missing /etc/sipprot/sipprot.conf means the defaults.
func TestConfigCheckDefaultPath(t *testing.T) {
	if _, err := os.Stat(DefaultConfigPath); err == nil {
		t.Skipf("%s exists on this host", DefaultConfigPath)
	}
	out, _, err := runCLI(t, "config", "check")
	if err != nil || out != "ok: defaults\n" {
		t.Errorf("got %q, %v; want ok: defaults", out, err)
	}
}

func TestConfigShow(t *testing.T) {
	path := writeFile(t, "[sip]\nports = [\"5080:5082\"]\n")
	out, _, err := runCLI(t, "config", "show", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `ports = ["5080:5082"]`) || !strings.Contains(out, "[log]") {
		t.Errorf("show output lacks the file's ports or a section:\n%s", out)
	}
	// What show prints is a config that loads back to the same values.
	again, err := conf.Parse("show", []byte(out))
	if err != nil {
		t.Fatalf("show output does not load: %v", err)
	}
	if got := again.SIP.Ports; len(got) != 1 || got[0] != (conf.PortRange{Lo: 5080, Hi: 5082}) {
		t.Errorf("show output loads ports %v", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	out, _, err := runCLI(t, "config", "defaults")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(conf.DefaultsTOML()) {
		t.Error("config defaults is not DefaultsTOML verbatim")
	}
}
