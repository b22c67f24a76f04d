package admin

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/attacks"
)

func TestExport(t *testing.T) {
	f := newFixture(t)
	f.write("denylist", "# scanners\n203.0.113.9 seen, twice\n")
	f.login()
	w := f.do("GET", "/deny/export.csv", nil)
	if w.Code != http.StatusOK || w.Body.String() != "address,note\n203.0.113.9,\"seen, twice\"\n" {
		t.Fatalf("export: %d %q", w.Code, w.Body)
	}
	if got := w.Header().Get("Content-Disposition"); got != `attachment; filename="sipprot-denylist.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
	if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/csv") {
		t.Errorf("Content-Type %q", got)
	}
}

func TestAddressFilter(t *testing.T) {
	a := netip.MustParseAddr("198.51.100.66")
	for q, want := range map[string]bool{
		"": true, "198.51.100.66": true, "198.51.100.0/24": true, "198.51.100.64/30": true,
		"100.6": true, "198.51.100.67": false, "203.0.113.0/24": false, "::ffff:198.51.100.66": true,
	} {
		if got := addressFilter(q)(a); got != want {
			t.Errorf("filter %q on %s: %v, want %v", q, a, got, want)
		}
	}
}

func TestTimeLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "ending", 42 * time.Second: "42s", 9*time.Minute + 57*time.Second: "9m57s",
		26*time.Hour + 5*time.Minute: "26h05m",
	} {
		if got := timeLeft(d); got != want {
			t.Errorf("timeLeft(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCharts(t *testing.T) {
	loc := time.FixedZone("IST", 5*3600+1800) // a half-hour zone
	now := time.Date(2026, 3, 10, 1, 20, 0, 0, loc)
	hours := func(m map[int]int) []attacks.Hour {
		var out []attacks.Hour
		for h := range 24 {
			out = append(out, attacks.Hour{Hour: h, Attacks: m[h]})
		}
		return out
	}
	reports := map[string]attacks.Report{
		"2026-03-09": {Date: "2026-03-09", Attacks: 5, Hours: hours(map[int]int{1: 2, 2: 1, 23: 2})},
		"2026-03-10": {Date: "2026-03-10", Attacks: 4, Hours: hours(map[int]int{0: 3, 1: 1})},
		"2026-03-03": {Date: "2026-03-03", Attacks: 7},
	}
	h := hourlyChart(reports, now)
	// 02:00 yesterday to 01:00 today: yesterday's 01:00 is out.
	if len(h.Bars) != 24 || h.Total != 1+2+3+1 || h.Max != 3 {
		t.Errorf("hourly: %d bars, total %d, max %d", len(h.Bars), h.Total, h.Max)
	}
	if last := h.Bars[23]; last.Value != 1 || !strings.Contains(last.Title, "2026-03-10 01:00") {
		t.Errorf("the last bar is %+v, want this hour", last)
	}
	d := dailyChart(reports, now)
	if len(d.Bars) != 7 || d.Total != 9 || d.Bars[0].Label != "Wed 04" {
		t.Errorf("daily: %d bars, total %d, first %q", len(d.Bars), d.Total, d.Bars[0].Label)
	}
	for _, b := range append(h.Bars, d.Bars...) {
		if b.Y < chartTop || b.Y+b.H != chartH-chartBottom {
			t.Errorf("bar %+v is off the plot", b)
		}
	}
}

func TestTopSources(t *testing.T) {
	got := topSources(map[string]attacks.Report{
		"2026-03-09": {TopSources: []attacks.Source{{IP: "198.51.100.1", Blocks: 1, Dropped: 5, UserAgent: "old"}, {IP: "198.51.100.2", Blocks: 1}}},
		"2026-03-10": {TopSources: []attacks.Source{{IP: "198.51.100.1", Blocks: 2, Dropped: 1, UserAgent: "new", Permanent: true}}},
	})
	if len(got) != 2 || got[0].IP != "198.51.100.1" || got[0].Blocks != 3 || got[0].Dropped != 6 || got[0].UserAgent != "new" || !got[0].Permanent {
		t.Errorf("merged: %+v", got)
	}
}
