//go:build e2e

package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// metricsAddr is [metrics] listen's default: the e2e configs leave it, so
// the real binary serves it on its namespace's own loopback.
const metricsAddr = "127.0.0.1:9465"

// scrapeMetrics GETs /metrics from inside ns. The connection is dialled
// on Do's thread, so it is the namespace's loopback, not the host's.
func scrapeMetrics(t *testing.T, ns netnstest.NS) string {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", metricsAddr, 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("metrics in %s: %v", ns, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+metricsAddr+"/metrics", nil)
	req.Close = true
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("metrics in %s: %v", ns, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics in %s: %s %v\n%s", ns, resp.Status, err, body)
	}
	return string(body)
}

// metricValue returns the value of the sample whose name and labels are
// exactly series (e.g. `sipprot_blocks_total{reason="failures"}`).
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in the scrape", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// testMetrics scrapes the running daemon after the attack scenarios: the
// figures are those of the attacks just made, and Debian's promtool
// accepts the exposition.
func testMetrics(t *testing.T, s *setup) {
	text := scrapeMetrics(t, s.ns)
	atLeast := func(series string, min float64) {
		if v := metricValue(t, text, series); v < min {
			t.Errorf("%s = %v, want at least %v", series, v, min)
		}
	}
	atLeast(`sipprot_blocks_total{reason="failures"}`, 3)   // the guessers
	atLeast(`sipprot_blocks_total{reason="user_agent"}`, 3) // svmap, svwar, svcrack
	atLeast(`sipprot_packets_total{reason="deny",verdict="drop"}`, 1)
	atLeast(`sipprot_packets_total{reason="dynamic",verdict="drop"}`, 1)
	atLeast(`sipprot_packets_total{reason="none",verdict="accept"}`, 100)
	atLeast(`sipprot_sip_messages_total`, 100)
	atLeast(`sipprot_verdict_latency_seconds_count`, 100)
	q := strconv.Itoa(s.cfg.queueNumber)
	atLeast(`sipprot_queue_healthy{queue="`+q+`"}`, 1)
	atLeast(`sipprot_queue_packets_total{queue="`+q+`",verdict="drop"}`, 1)
	if v := metricValue(t, text, `sipprot_block_events_lost_total`); v != 0 {
		t.Errorf("block events lost: %v", v)
	}
	if !strings.Contains(text, `sipprot_build_info{`) {
		t.Error("no sipprot_build_info")
	}
	testutil.PromtoolCheckMetrics(t, text, true)
}
