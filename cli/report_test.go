package cli

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/policy"
)

// reportZone pins the report's days and hours, whatever the machine's TZ.
var reportZone = time.FixedZone("UTC+1", 3600)

func reportAt(day, hour, minute, second int) time.Time {
	return time.Date(2026, 3, day, hour, minute, second, 0, reportZone)
}

// pinReportClock makes the fixture's report command cut days in
// reportZone and take "today" to be now.
func pinReportClock(f *listFixture, now time.Time) {
	f.deps.Location, f.deps.Now = reportZone, func() time.Time { return now }
}

// reportGolden compares the fixture's transcript to
// testdata/report/NAME.golden, through the lists' golden helper.
func reportGolden(f *listFixture, name string) {
	f.t.Helper()
	f.goldenIn("report", name)
}

// attackLog opens the fixture's attack log the way the daemon does; its
// retention never prunes the tests' fixed days.
func attackLog(f *listFixture) *attacks.Log {
	f.t.Helper()
	l, err := attacks.Open(f.path("state"), 100000, reportZone)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

type reportEvents struct{ l *attacks.Log }

func (e reportEvents) block(ip string, r policy.Reason, at time.Time, ua, country string, count int, perm bool) {
	e.l.Record(policy.Event{Kind: policy.EventBlock, Addr: netip.MustParseAddr(ip), Reason: r, At: at,
		UserAgent: ua, Country: country, Count: count, Permanent: perm})
}

func (e reportEvents) lift(ip string, r policy.Reason, at time.Time) {
	e.l.Record(policy.Event{Kind: policy.EventUnblock, Addr: netip.MustParseAddr(ip), Reason: r, At: at})
}

func (e reportEvents) drops(ip string, r policy.Reason, at time.Time, n int, every time.Duration) {
	s := &policy.DropSample{At: at, BySource: map[netip.Addr]uint64{netip.MustParseAddr(ip): 1}}
	s.ByReason[r] = 1
	for range n {
		e.l.RecordDrops(s)
		s.At = s.At.Add(every)
	}
}

// reportFixture is one busy day, 2026-03-14, between a day before and
// a day after that only touch its edges.
func reportFixture(t *testing.T) *listFixture {
	f := newListFixture(t)
	pinReportClock(f, reportAt(14, 12, 0, 0))
	l := attackLog(f)
	e := reportEvents{l}
	e.block("198.51.100.10", policy.ReasonFailures, reportAt(13, 22, 0, 0), "", "FR", 1, false) // the 13th
	// A scanner, then a million packets while it is blocked.
	e.block("203.0.113.5", policy.ReasonUserAgent, reportAt(14, 3, 12, 0), "friendly-scanner", "CN", 1, false)
	e.drops("203.0.113.5", policy.ReasonUserAgent, reportAt(14, 3, 12, 0), 1, 0)
	e.drops("203.0.113.5", policy.ReasonDynamic, reportAt(14, 3, 12, 1), 1_000_000, 500*time.Microsecond)
	l.Flush()
	e.lift("203.0.113.5", policy.ReasonUserAgent, reportAt(14, 3, 30, 0))
	e.lift("198.51.100.10", policy.ReasonFailures, reportAt(14, 3, 31, 0)) // the block of the 13th
	// A password guesser, blocked twice, the second time for good.
	e.block("198.51.100.66", policy.ReasonFailures, reportAt(14, 9, 5, 0), "Z 5.4.12 v2.10.15.3", "FR", 1, false)
	e.drops("198.51.100.66", policy.ReasonDynamic, reportAt(14, 9, 5, 1), 12, time.Second)
	e.lift("198.51.100.66", policy.ReasonFailures, reportAt(14, 9, 15, 0))
	e.block("198.51.100.66", policy.ReasonFailures, reportAt(14, 14, 40, 0), "Z 5.4.12 v2.10.15.3", "FR", 5, true)
	e.drops("198.51.100.66", policy.ReasonDynamic, reportAt(14, 14, 40, 1), 3, time.Second)
	// User-Agents are the attacker's: escapes and a long one.
	e.block("2001:db8::bad", policy.ReasonUserAgent, reportAt(14, 17, 0, 0), "sipvicious\x1b[31m\r\nX-Evil: 1", "", 1, false)
	e.drops("2001:db8::bad", policy.ReasonUserAgent, reportAt(14, 17, 0, 0), 1, 0)
	e.block("198.51.100.99", policy.ReasonUserAgent, reportAt(14, 23, 59, 59),
		"Mozilla/5.0 (compatible; "+strings.Repeat("VoIPScanner ", 10)+")", "US", 1, false)
	// Dropped without a block: deny list, country, TFTP flood.
	e.drops("192.0.2.200", policy.ReasonDeny, reportAt(14, 20, 0, 0), 25, time.Second)
	e.drops("203.0.113.77", policy.ReasonCountry, reportAt(14, 22, 10, 0), 8, time.Second)
	e.drops("198.51.100.7", policy.ReasonTFTP, reportAt(14, 6, 0, 0), 120, time.Millisecond)
	// The 15th only lifts the block made just before midnight.
	e.lift("198.51.100.99", policy.ReasonUserAgent, reportAt(15, 0, 9, 59))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReportGolden(t *testing.T) {
	f := reportFixture(t)
	f.run("report", "--date", "2026-03-14")
	f.run("report", "--date", "2026-03-15") // quiet, one block lifted
	f.run("report", "--date", "2026-03-20") // quiet, no file at all
	f.run("report", "--date", "14/03/2026")
	f.run("report", "--date", "2026-02-30")
	reportGolden(f, "report")

	// A million drops are a handful of lines, not one per packet.
	b, err := os.ReadFile(attacks.Path(f.path("state"), "2026-03-14"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 20 {
		t.Errorf("the day file has %d lines", n)
	}
}

func TestReportJSONGolden(t *testing.T) {
	f := reportFixture(t)
	out := f.run("report", "--date", "2026-03-14", "--json")
	reportGolden(f, "report_json")

	var r attacks.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Date != "2026-03-14" || r.Attacks != 5 || r.Dropped != 1_000_170 || len(r.Hours) != 24 || len(r.TopSources) != 7 {
		t.Errorf("%+v", r)
	}
	if r.TopSources[2].UserAgent != "sipvicious\x1b[31m\r\nX-Evil: 1" {
		t.Errorf("the JSON does not carry the User-Agent as is: %q", r.TopSources[2].UserAgent)
	}
}

// The JSON keys are exactly the documented ones, and maps and lists are
// never null, on a quiet day too.
func TestReportJSONKeys(t *testing.T) {
	f := reportFixture(t)
	for _, date := range []string{"2026-03-14", "2026-03-20"} {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(f.run("report", "--date", date, "--json")), &doc); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k, v := range doc {
			keys = append(keys, k)
			if string(v) == "null" {
				t.Errorf("%s: %s is null", date, k)
			}
		}
		slices.Sort(keys)
		want := []string{"attacks", "attacks_by_reason", "blocks_lifted", "blocks_made", "date", "dropped",
			"dropped_by_reason", "failures_refused_proven", "hours", "made_permanent", "top_sources", "unbound_credentials"}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v, want %v", date, keys, want)
		}
	}
}

// A line torn by a crash is skipped with a warning; the rest is reported.
func TestReportTornLine(t *testing.T) {
	f := newListFixture(t)
	pinReportClock(f, reportAt(14, 12, 0, 0))
	l := attackLog(f)
	reportEvents{l}.block("203.0.113.5", policy.ReasonUserAgent, reportAt(14, 3, 12, 0), "friendly-scanner", "CN", 1, false)
	l.Close()
	file, err := os.OpenFile(attacks.Path(f.path("state"), "2026-03-14"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	file.WriteString(`{"at":"2026-03-14T03:13:00+01:00","event":"blo`)
	file.Close()
	f.run("report")
	reportGolden(f, "report_torn")
}

// Without --date the report is today's, local time; a fresh host with no
// state directory has a quiet one.
func TestReportDefaultDate(t *testing.T) {
	f := newListFixture(t)
	pinReportClock(f, time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC)) // the 15th in reportZone
	out := f.run("report")
	if !strings.HasPrefix(out, "sipprot attack report for 2026-03-15 (Sunday)\n") || !strings.Contains(out, "quiet day") {
		t.Errorf("%s", out)
	}
}

// The counts of forged-looking traffic are printed on a day that had
// some, quiet or not, and nowhere else (the goldens have none).
func TestReportTextForged(t *testing.T) {
	for _, r := range []attacks.Report{
		{Date: "2026-03-14", UnboundCredentials: 2000, ProvenRefused: 1000},
		{Date: "2026-03-14", Attacks: 1, BlocksMade: 1, UnboundCredentials: 2000, ProvenRefused: 1000,
			AttacksByReason: map[string]int{"failures": 1}, DroppedByReason: map[string]uint64{}},
	} {
		var b strings.Builder
		if err := writeReportText(&b, r); err != nil {
			t.Fatal(err)
		}
		want := "Credentials answering no challenge sent to their source: 2000\nFailures refused for a proven source: 1000\n"
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks the forged counts:\n%s", b.String())
		}
	}
}
