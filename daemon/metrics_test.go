package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/policy"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// TestMetricsScrape scrapes a running daemon after a block: the figures
// are the engine's, the text passes promtool.
func TestMetricsScrape(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	h := start(t, dir, baseConfig+fmt.Sprintf("[metrics]\nlisten = %q\n", addr), func(o *Options) {
		o.Metrics, o.Version, o.Commit = true, "1.2.3-test", "c0ffee"
	})
	defer h.stop()
	h.waitLog("metrics listening")
	if d := h.send("198.51.100.66", "friendly-scanner"); d.Verdict != policy.Drop {
		t.Fatalf("scanner: %v", d)
	}
	h.send("198.51.100.66", "Yealink")
	h.send("198.51.100.7", "Yealink")
	text := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`sipprot_blocks_total{reason="user_agent"} 1`,
		`sipprot_packets_total{reason="user_agent",verdict="drop"} 1`,
		`sipprot_packets_total{reason="dynamic",verdict="drop"} 1`,
		`sipprot_packets_total{reason="none",verdict="accept"} 1`,
		`sipprot_blocks_in_force{kind="temporary"} 1`,
		`sipprot_blocks_in_force{kind="fleet"} 0`,
		`sipprot_queue_healthy{queue="0"} 1`,
		`sipprot_service_failed{service="metrics"} 0`,
		`sipprot_build_info{commit="c0ffee",goversion="`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the scrape:\n%s", want, text)
		}
	}
	testutil.PromtoolCheckMetrics(t, text, false)
}

// TestMetricsPortTaken: a listen address in use fails the metrics service
// only; the daemon protects and says so in status.
func TestMetricsPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	h := start(t, dir, baseConfig+fmt.Sprintf("[metrics]\nlisten = %q\n", l.Addr()), func(o *Options) { o.Metrics = true })
	defer h.stop()
	h.waitLog("metrics not served")
	if d := h.send("198.51.100.66", "friendly-scanner"); d.Verdict != policy.Drop {
		t.Fatalf("scanner: %v", d)
	}
	testutil.WaitFor(t, 10*time.Second, "metrics failure in the status file", func() bool {
		st, err := ReadStatus(filepath.Join(dir, "state"))
		return err == nil && st != nil && strings.Contains(st.Failed["metrics"], "address already in use")
	})
}

// TestMetricsBearerToken: the daemon reads metrics.bearer_token_file and
// serves the figures only to a scraper that sends it.
func TestMetricsBearerToken(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	tokenFile := filepath.Join(dir, "metrics.token")
	if err := os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, dir, baseConfig+fmt.Sprintf("[metrics]\nlisten = %q\nbearer_token_file = %q\n", addr, tokenFile), func(o *Options) { o.Metrics = true })
	defer h.stop()
	h.waitLog("metrics listening")
	url := "http://" + addr + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "sipprot_build_info") {
		t.Fatalf("with the token: %s\n%s", resp.Status, b)
	}
	if strings.Contains(h.logs.String(), "tok-123") {
		t.Fatal("the token is in the log")
	}
}
