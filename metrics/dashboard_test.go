package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const dashboardPath = "../dist/grafana/sipprot.json"

// dashboardExprs returns every PromQL query of the Grafana dashboard, with
// the panel that holds it.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			if q.Expr != "" {
				out[q.Expr] = p.Title
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("%s: only %d queries", dashboardPath, len(out))
	}
	return out
}

var metricName = regexp.MustCompile(`\bsipprot_[a-z0-9_]+`)

// TestDashboardNamesExportedMetrics: every metric a dashboard query names
// is one the daemon exports (a renamed metric breaks this test, not the
// operator's graphs).
func TestDashboardNamesExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	for _, line := range strings.Split(scrape(t, full()), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)
			exported[f[2]] = true
			if f[3] == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[f[2]+s] = true
				}
			}
		}
	}
	used := map[string]bool{}
	for expr, panel := range dashboardExprs(t) {
		for _, name := range metricName.FindAllString(expr, -1) {
			used[name] = true
			if !exported[name] {
				t.Errorf("panel %q: %s is not exported (query %s)", panel, name, expr)
			}
		}
	}
	// The figures the dashboard exists for.
	for _, want := range []string{"sipprot_packets_total", "sipprot_blocks_total", "sipprot_blocks_in_force",
		"sipprot_verdict_latency_seconds_bucket", "sipprot_queue_healthy", "sipprot_queue_lost_packets_total"} {
		if !used[want] {
			t.Errorf("the dashboard does not chart %s", want)
		}
	}
}

// grafanaVars stands in for the variables Grafana expands, so promtool
// can parse the queries.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$instance", ".*")

// TestDashboardQueriesParse runs every query through promtool's PromQL
// parser (Debian's prometheus package), as recording rules.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): queries not parsed")
	}
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	i := 0
	for expr := range dashboardExprs(t) {
		i++
		q, _ := json.Marshal(grafanaVars.Replace(expr)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "  - record: dashboard:q%d\n    expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(promtool, "check", "rules", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out.String(), rules.String())
	}
}
