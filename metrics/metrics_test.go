package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
)

// full is a snapshot with every part present, so every metric is exported.
func full() Snapshot {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var lat queue.Latency
	lat.Counts[0], lat.Counts[3], lat.Counts[len(lat.Counts)-1] = 90, 9, 1
	lat.Sum = 200 * time.Millisecond
	return Snapshot{
		Engine: policy.Stats{Packets: 130, SIPMessages: 120, Malformed: 2, EventsLost: 0, Unbound: 2000, ProvenRefused: 1000,
			Accepted: map[policy.Reason]uint64{policy.ReasonNone: 100, policy.ReasonAllow: 5},
			Dropped:  map[policy.Reason]uint64{policy.ReasonDynamic: 20, policy.ReasonUserAgent: 3, policy.ReasonFleet: 2},
			Blocks:   map[policy.Reason]uint64{policy.ReasonUserAgent: 3}},
		Blocks: policy.BlockCounts{Temporary: 2, Permanent: 1},
		Fleet: &control.FleetStatus{LAPI: "http://192.0.2.5:8080", PullConnected: true, LastPull: now, PushConnected: false,
			InForce: map[string]int{"sipprot": 4, "cscli": 1}, Enforced: 3, Outbox: 2, Pushed: 7, Refused: 1},
		Queues:  []queue.QueueHealth{{Number: 0, Healthy: true, Packets: 130, Accepted: 105, Dropped: 25, Errors: 1, ENOBUFS: 1, Lost: 4}},
		Latency: lat, Allow: 3, Deny: 4, GeoIPDate: now.Add(-48 * time.Hour), GeoIPAge: 48 * time.Hour,
		MailPending: 1, MailLast: now, MailLastOK: true,
		FailedServes: map[string]string{"web": "address in use"}, Services: []string{"control", "queues", "web"},
	}
}

func scrape(t *testing.T, s Snapshot) string {
	t.Helper()
	rec := httptest.NewRecorder()
	New(func() Snapshot { return s }, Build{Version: "1.2.3", Commit: "abc", GoVersion: "go1.26"}, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	return string(body)
}

func TestExport(t *testing.T) {
	got := scrape(t, full())
	for _, want := range []string{
		`sipprot_packets_total{reason="dynamic",verdict="drop"} 20`,
		`sipprot_packets_total{reason="none",verdict="accept"} 100`,
		`sipprot_packets_total{reason="country",verdict="drop"} 0`, // every reason listed
		`sipprot_blocks_total{reason="user_agent"} 3`,
		`sipprot_blocks_total{reason="flood"} 0`,
		`sipprot_blocks_in_force{kind="temporary"} 2`,
		`sipprot_blocks_in_force{kind="permanent"} 1`,
		`sipprot_blocks_in_force{kind="fleet"} 3`,
		`sipprot_block_events_lost_total 0`,
		`sipprot_unbound_credentials_total 2000`,
		`sipprot_failures_refused_proven_total 1000`,
		`sipprot_queue_packets_total{queue="0",verdict="drop"} 25`,
		`sipprot_queue_enobufs_total{queue="0"} 1`,
		`sipprot_queue_lost_packets_total{queue="0"} 4`,
		`sipprot_queue_healthy{queue="0"} 1`,
		`sipprot_verdict_latency_seconds_bucket{le="1e-05"} 90`,
		`sipprot_verdict_latency_seconds_bucket{le="0.0001"} 99`,
		`sipprot_verdict_latency_seconds_bucket{le="+Inf"} 100`,
		`sipprot_verdict_latency_seconds_sum 0.2`,
		`sipprot_verdict_latency_seconds_count 100`,
		`sipprot_list_entries{list="deny"} 4`,
		`sipprot_geoip_database_age_seconds 172800`,
		`sipprot_email_outbox_messages 1`,
		`sipprot_email_last_delivery_success 1`,
		`sipprot_service_failed{service="web"} 1`,
		`sipprot_service_failed{service="control"} 0`,
		`sipprot_fleet_connected{direction="pull"} 1`,
		`sipprot_fleet_connected{direction="push"} 0`,
		`sipprot_fleet_decisions{origin="sipprot"} 4`,
		`sipprot_fleet_outbox_alerts 2`,
		`sipprot_fleet_pushed_total 7`,
		`sipprot_build_info{commit="abc",goversion="go1.26",version="1.2.3"} 1`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(got, want+"\n") && !strings.Contains(got, want+" ") {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	// No per-address label, ever.
	for _, bad := range []string{"192.0.2.", "ip=", "addr="} {
		if strings.Contains(got, bad) {
			t.Errorf("per-address label %q exported", bad)
		}
	}
}

// TestAbsentParts: without a fleet, a GeoIP database or a delivery, their
// metrics are absent rather than a misleading 0.
func TestAbsentParts(t *testing.T) {
	s := full()
	s.Fleet, s.GeoIPDate, s.GeoIPAge, s.MailLast = nil, time.Time{}, 0, time.Time{}
	got := scrape(t, s)
	for _, absent := range []string{"sipprot_fleet_connected", "sipprot_geoip_database_age_seconds", "sipprot_email_last_delivery_timestamp_seconds"} {
		if strings.Contains(got, absent+"{") || strings.Contains(got, absent+" ") {
			t.Errorf("%s exported without its part", absent)
		}
	}
	if !strings.Contains(got, `sipprot_blocks_in_force{kind="fleet"} 0`) {
		t.Error("fleet blocks in force not 0 without a fleet")
	}
}

// TestLint runs client_golang's promlint over every metric: names, units,
// _total suffixes and help texts follow Prometheus's conventions.
func TestLint(t *testing.T) {
	s := full()
	reg := NewRegistry(func() Snapshot { return s }, Build{Version: "v", Commit: "c", GoVersion: "g"})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sipprot_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestBearerToken: with a token, a scrape without it or with another one
// gets 401 and no figure; with it, the metrics.
func TestBearerToken(t *testing.T) {
	h := New(func() Snapshot { return full() }, Build{}, "s3cret")
	for _, c := range []struct {
		name, auth string
		code       int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"basic", "Basic czNjcmV0", 401},
		{"right", "Bearer s3cret", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/metrics", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != c.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, c.code, body)
			}
			if leaked := strings.Contains(body, "sipprot_packets_total"); leaked != (c.code == 200) {
				t.Fatalf("figures served = %v with code %d", leaked, rec.Code)
			}
		})
	}
}
