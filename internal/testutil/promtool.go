package testutil

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// PromtoolCheckMetrics validates a Prometheus exposition with Debian's
// promtool (package prometheus, which .ci/run installs). Without promtool
// the test is skipped, saying why, unless required, when it fails.
func PromtoolCheckMetrics(t testing.TB, text string, required bool) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if required {
			t.Fatal("promtool missing (Debian: apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus): exposition not validated")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}
