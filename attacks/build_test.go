package attacks

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/sipprot/sipprot/policy"
)

func TestBuildReport(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	// The day before and after: not in the report.
	l.Record(blockEv(guesser, policy.ReasonFailures, at(13, 23, 0), "", false, 1))
	l.RecordDrops(dropEv(guesser, policy.ReasonDynamic, at(15, 0, 0)))

	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "friendly-scanner", false, 1))
	for range 40 {
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 31)))
	}
	l.Record(liftEv(guesser, policy.ReasonFailures, at(14, 9, 33))) // the block of the 13th
	l.Record(liftEv(scanner, policy.ReasonUserAgent, at(14, 9, 40)))
	l.Flush()
	// Blocked again later with another User-Agent, made permanent.
	l.Record(blockEv(scanner, policy.ReasonFailures, at(14, 14, 0), "sipcli/v1.8", true, 2))
	for range 5 {
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 14, 1)))
	}
	l.Record(blockEv(v6, policy.ReasonFlood, at(14, 14, 5), "", false, 1))
	l.RecordDrops(dropEv(v6, policy.ReasonFlood, at(14, 14, 5)))
	for range 7 {
		l.RecordDrops(dropEv(netip.MustParseAddr("192.0.2.1"), policy.ReasonDeny, at(14, 23, 59)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, skipped, err := BuildReport(dir, at(14, 12, 0), zone)
	if err != nil || skipped != 0 {
		t.Fatalf("skipped %d, %v", skipped, err)
	}
	want := Report{
		Date:            "2026-03-14",
		Attacks:         3,
		AttacksByReason: map[string]int{"user_agent": 1, "failures": 1, "flood": 1},
		BlocksMade:      3,
		MadePermanent:   1,
		BlocksLifted:    2,
		Dropped:         53,
		DroppedByReason: map[string]uint64{"dynamic": 45, "flood": 1, "deny": 7},
		TopSources: []Source{
			{IP: "203.0.113.5", Country: "NL", UserAgent: "sipcli/v1.8", Reason: "failures", Blocks: 2, Dropped: 45, Permanent: true},
			{IP: "2001:db8::66", Country: "NL", Reason: "flood", Blocks: 1, Dropped: 1},
			{IP: "192.0.2.1", Dropped: 7},
		},
		Hours: make([]Hour, 24),
	}
	for h := range want.Hours {
		want.Hours[h].Hour = h
	}
	want.Hours[9] = Hour{Hour: 9, Attacks: 1, BlocksLifted: 2, Dropped: 40}
	want.Hours[14] = Hour{Hour: 14, Attacks: 2, Dropped: 6}
	want.Hours[23] = Hour{Hour: 23, Dropped: 7}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Quiet() {
		t.Error("a day with attacks is quiet")
	}
}

// A day without a file is quiet, with the same shape as any other.
func TestBuildReportEmptyDay(t *testing.T) {
	r, skipped, err := BuildReport(t.TempDir(), at(14, 0, 0), zone)
	if err != nil || skipped != 0 {
		t.Fatalf("skipped %d, %v", skipped, err)
	}
	if !r.Quiet() || r.Date != "2026-03-14" || len(r.Hours) != 24 || r.Hours[23].Hour != 23 {
		t.Errorf("%+v", r)
	}
	b, _ := json.Marshal(r)
	want := `{"date":"2026-03-14","attacks":0,"attacks_by_reason":{},"blocks_made":0,"made_permanent":0,"blocks_lifted":0,` +
		`"dropped":0,"dropped_by_reason":{},"unbound_credentials":0,"failures_refused_proven":0,"top_sources":[],"hours":[{"hour":0,"attacks":0,"blocks_lifted":0,"dropped":0},`
	if string(b[:len(want)]) != want {
		t.Errorf("JSON:\n%s\nwant prefix\n%s", b, want)
	}
}

// The report's JSON keys are the documented ones, no more, no fewer.
func TestReportJSONKeys(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "x", false, 1))
	l.Close()
	r, _, err := BuildReport(dir, at(14, 0, 0), zone)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var doc map[string]json.RawMessage
	json.Unmarshal(b, &doc)
	var sources, hours []map[string]json.RawMessage
	json.Unmarshal(doc["top_sources"], &sources)
	json.Unmarshal(doc["hours"], &hours)
	if len(sources) != 1 || len(hours) != 24 {
		t.Fatalf("%s", b)
	}
	for _, c := range []struct {
		name string
		obj  map[string]json.RawMessage
		want []string
	}{
		{"report", doc, []string{"attacks", "attacks_by_reason", "blocks_lifted", "blocks_made", "date", "dropped",
			"dropped_by_reason", "failures_refused_proven", "hours", "made_permanent", "top_sources", "unbound_credentials"}},
		{"source", sources[0], []string{"blocks", "country", "dropped", "ip", "permanent", "reason", "user_agent"}},
		{"hour", hours[0], []string{"attacks", "blocks_lifted", "dropped", "hour"}},
	} {
		var keys []string
		for k := range c.obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, c.want) {
			t.Errorf("%s keys %v, want %v", c.name, keys, c.want)
		}
	}
}

// Sources rank by blocks, then dropped packets, then address; only the
// first ReportTopSources are kept.
func TestReportTopSources(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	for i := range 15 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(20 - i)})
		for range i % 3 {
			l.Record(blockEv(a, policy.ReasonFailures, at(14, 10, i), fmt.Sprint("ua", i), false, 1))
		}
		for range i {
			l.RecordDrops(dropEv(a, policy.ReasonDynamic, at(14, 11, 0)))
		}
	}
	l.Close()
	r, _, err := BuildReport(dir, at(14, 0, 0), zone)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.TopSources {
		got = append(got, fmt.Sprintf("%s b%d d%d", s.IP, s.Blocks, s.Dropped))
	}
	want := []string{
		"198.51.100.6 b2 d14", "198.51.100.9 b2 d11", "198.51.100.12 b2 d8", "198.51.100.15 b2 d5", "198.51.100.18 b2 d2",
		"198.51.100.7 b1 d13", "198.51.100.10 b1 d10", "198.51.100.13 b1 d7", "198.51.100.16 b1 d4", "198.51.100.19 b1 d1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("top sources\n%q\nwant\n%q", got, want)
	}
	// Ties on both counts go by address.
	if r2 := topSources(map[netip.Addr]*sourceTally{
		scanner: {addr: scanner, blocks: 1}, guesser: {addr: guesser, blocks: 1}, v6: {addr: v6, blocks: 1},
	}); r2[0].IP != "198.51.100.66" || r2[1].IP != "203.0.113.5" || r2[2].IP != "2001:db8::66" {
		t.Errorf("tie order %+v", r2)
	}
}

// Bad lines are skipped and counted; the rest still make the report. A
// day file that cannot be read is an error.
func TestBuildReportSkipsBadLines(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "x", false, 1))
	l.Close()
	f, _ := os.OpenFile(Path(dir, "2026-03-14"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not json\n{\"at\":\"2026-03-14T10:00:00+01:00\",\"event\":\"dro")
	f.Close()
	r, skipped, err := BuildReport(dir, at(14, 0, 0), zone)
	if err != nil || skipped != 2 || r.Attacks != 1 {
		t.Errorf("attacks %d, skipped %d, %v", r.Attacks, skipped, err)
	}
	os.Mkdir(Path(dir, "2026-03-15"), 0o750)
	if _, _, err := BuildReport(dir, at(15, 0, 0), zone); err == nil {
		t.Error("unreadable day file: no error")
	}
}

func TestReportDaysNoLog(t *testing.T) {
	days, err := Days(t.TempDir())
	if err != nil || days == nil || len(days) != 0 {
		t.Errorf("%q, %v", days, err)
	}
}
