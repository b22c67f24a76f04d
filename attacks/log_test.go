package attacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/policy"
)

// zone is a fixed time zone so that days and hours do not depend on the
// machine's TZ.
var zone = time.FixedZone("UTC+1", 3600)

// keepAll is a retention long enough that opening a log in a test never
// prunes the test's fixed dates, whatever today is.
const keepAll = 100000

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, zone)
}

var (
	scanner = netip.MustParseAddr("203.0.113.5")
	guesser = netip.MustParseAddr("198.51.100.66")
	v6      = netip.MustParseAddr("2001:db8::66")
)

func openLog(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(dir, keepAll, zone)
	if err != nil {
		t.Fatal(err)
	}
	l.SetDropsEvery(0)
	return l
}

func blockEv(a netip.Addr, r policy.Reason, when time.Time, ua string, perm bool, count int) policy.Event {
	return policy.Event{Kind: policy.EventBlock, Addr: a, Reason: r, At: when, UserAgent: ua, Country: "NL",
		Permanent: perm, Count: count, Until: when.Add(10 * time.Minute)}
}

// dropEv is a sample of one packet from a dropped for r.
func dropEv(a netip.Addr, r policy.Reason, when time.Time) *policy.DropSample {
	s := &policy.DropSample{At: when, BySource: map[netip.Addr]uint64{a: 1}}
	s.ByReason[r] = 1
	return s
}

func liftEv(a netip.Addr, r policy.Reason, when time.Time) policy.Event {
	return policy.Event{Kind: policy.EventUnblock, Addr: a, Reason: r, At: when}
}

func dayLines(t *testing.T, dir, date string) []string {
	t.Helper()
	b, err := os.ReadFile(Path(dir, date))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestAttackLogLines(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "friendly-scanner", false, 1))
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 31)))
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 32)))
	l.RecordDrops(dropEv(guesser, policy.ReasonDeny, at(14, 9, 33)))
	l.Record(liftEv(scanner, policy.ReasonUserAgent, at(14, 9, 40)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"at":"2026-03-14T09:30:00+01:00","event":"block","ip":"203.0.113.5","reason":"user_agent","user_agent":"friendly-scanner","country":"NL","permanent":false,"count":1}`,
		`{"at":"2026-03-14T09:40:00+01:00","event":"lift","ip":"203.0.113.5","reason":"user_agent"}`,
		`{"at":"2026-03-14T09:33:00+01:00","event":"drops","by_reason":{"deny":1,"dynamic":2},"by_source":{"198.51.100.66":1,"203.0.113.5":2}}`,
	}
	if got := dayLines(t, dir, "2026-03-14"); !slices.Equal(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fi, err := os.Stat(Path(dir, "2026-03-14"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("day file mode: %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, Dir)); err != nil || fi.Mode().Perm()&^0o750 != 0 {
		t.Errorf("attack dir mode: %v, %v", fi.Mode(), err)
	}
	// Recorded after Close: ignored, not written by a later flush.
	l.Record(blockEv(guesser, policy.ReasonFailures, at(14, 10, 0), "", false, 1))
	if err := l.Flush(); err != nil || len(dayLines(t, dir, "2026-03-14")) != 3 {
		t.Errorf("record after close was written (err %v)", err)
	}
}

// Each kind of line has exactly its documented keys.
func TestAttackLogKeys(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Record(blockEv(v6, policy.ReasonFailures, at(14, 9, 30), "", true, 5))
	l.Record(liftEv(v6, policy.ReasonFailures, at(14, 9, 40)))
	l.RecordDrops(dropEv(v6, policy.ReasonDynamic, at(14, 9, 35)))
	l.Close()
	want := map[string][]string{
		LineBlock: {"at", "count", "country", "event", "ip", "permanent", "reason", "user_agent"},
		LineLift:  {"at", "event", "ip", "reason"},
		LineDrops: {"at", "by_reason", "by_source", "event"},
	}
	for _, line := range dayLines(t, dir, "2026-03-14") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if ev, _ := m["event"].(string); !slices.Equal(keys, want[ev]) {
			t.Errorf("%s line keys %v, want %v", ev, keys, want[ev])
		}
	}
}

// An event goes to the file of its own local day, drops included, even
// when one flush holds both days.
func TestAttackLogDayBoundary(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	before := at(14, 23, 59).Add(59*time.Second + 900*time.Millisecond)
	after := at(15, 0, 0).Add(100 * time.Millisecond)
	for range 3 {
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, before))
	}
	l.Record(blockEv(guesser, policy.ReasonFailures, before, "", false, 1))
	for range 2 {
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, after))
	}
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, before)) // late: still the 14th
	l.Record(liftEv(guesser, policy.ReasonFailures, after))
	// The same instants in UTC: 22:59 and 23:00 on the 14th, yet the log
	// follows its own zone.
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, after.UTC()))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	r14, _, err := BuildReport(dir, at(14, 12, 0), zone)
	if err != nil {
		t.Fatal(err)
	}
	r15, _, err := BuildReport(dir, at(15, 12, 0), zone)
	if err != nil {
		t.Fatal(err)
	}
	if r14.Dropped != 4 || r14.Hours[23].Dropped != 4 || r14.Attacks != 1 || r14.Hours[23].Attacks != 1 || r14.BlocksLifted != 0 {
		t.Errorf("14th: %+v", r14)
	}
	if r15.Dropped != 3 || r15.Hours[0].Dropped != 3 || r15.Attacks != 0 || r15.BlocksLifted != 1 || r15.Hours[0].BlocksLifted != 1 {
		t.Errorf("15th: %+v", r15)
	}
}

// Around a DST change the wall clock is not linear; the hour cache must
// not carry counts across it.
func TestAttackLogDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	dir := t.TempDir()
	l, err := Open(dir, keepAll, ny)
	if err != nil {
		t.Fatal(err)
	}
	l.SetDropsEvery(0)
	// 2026-03-08 02:00 EST jumps to 03:00 EDT.
	start := time.Date(2026, 3, 8, 1, 30, 0, 0, ny)
	for i := range 60 { // 01:30 .. 03:29 local, one a minute
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, start.Add(time.Duration(i)*time.Minute)))
	}
	l.Close()
	r, _, err := BuildReport(dir, start, ny)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hours[1].Dropped != 30 || r.Hours[3].Dropped != 30 || r.Hours[2].Dropped != 0 {
		t.Errorf("hours 1..3: %+v", r.Hours[1:4])
	}
}

// A crash can tear the last line; reading skips it, and the next write
// starts on a line of its own.
func TestAttackLogTornLine(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "sipvicious", false, 1))
	l.Close()
	path := Path(dir, "2026-03-14")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"at":"2026-03-14T09:31:00+01:00","event":"block","ip":"198.51`)
	f.Close()

	entries, skipped, err := ReadDay(dir, "2026-03-14")
	if err != nil || skipped != 1 || len(entries) != 1 {
		t.Fatalf("torn: %d entries, %d skipped, %v", len(entries), skipped, err)
	}
	l = openLog(t, dir)
	l.Record(blockEv(guesser, policy.ReasonFailures, at(14, 9, 32), "", false, 1))
	l.Close()
	entries, skipped, err = ReadDay(dir, "2026-03-14")
	if err != nil || skipped != 1 || len(entries) != 2 || entries[1].IP != guesser {
		t.Fatalf("after reopen: %+v, %d skipped, %v", entries, skipped, err)
	}
}

func TestReadDayBadLines(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, Dir), 0o750)
	good := `{"at":"2026-03-14T09:30:00+01:00","event":"block","ip":"203.0.113.5","reason":"user_agent","user_agent":"x","country":"","permanent":false,"count":1}`
	lines := []string{
		good,
		"",
		"garbage",
		"\x00\x00\x00",
		`{"at":"2026-03-14T09:30:00+01:00","event":"block","ip":"nope","reason":"user_agent"}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"block","ip":"203.0.113.5","reason":"Not A Reason"}`,
		`{"event":"lift","ip":"203.0.113.5","reason":"failures"}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"explode"}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"drops","by_reason":{"\u001b[2J":1}}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"drops","by_source":{"not-ip":1}}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"drops","by_reason":{"flood":-1}}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"block","ip":"203.0.113.5","reason":"user_agent","user_agent":"` +
			strings.Repeat("A", maxLineLen) + `"}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"lift","ip":"203.0.113.5","reason":"user_agent","future_key":[1]}`,
		`{"at":"2026-03-14T09:30:00+01:00","event":"drops","by_reason":{"from_the_future":1}}`, // kept
		good,
	}
	os.WriteFile(Path(dir, "2026-03-14"), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	entries, skipped, err := ReadDay(dir, "2026-03-14")
	if err != nil || len(entries) != 4 || skipped != 10 {
		t.Fatalf("%d entries, %d skipped, %v", len(entries), skipped, err)
	}
	if _, _, err := ReadDay(dir, "2026-03-15"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing day: %v", err)
	}
	if _, _, err := ReadDay(dir, "../../etc/passwd"); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("bad date: %v", err)
	}
	// A day file that cannot be read at all is an error, not a panic.
	os.Mkdir(Path(dir, "2026-03-16"), 0o750)
	if _, _, err := ReadDay(dir, "2026-03-16"); err == nil {
		t.Error("a directory read as a day file")
	}
}

// A flood costs counters, not lines: a million drops from one source,
// sampled each millisecond, make one line.
func TestAttackLogDropFlood(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	s := &policy.DropSample{BySource: map[netip.Addr]uint64{scanner: 1000}}
	s.ByReason[policy.ReasonDynamic], s.ByReason[policy.ReasonFlood] = 999, 1
	for i := range 1000 {
		s.At = at(14, 9, 0).Add(time.Duration(i+1) * time.Millisecond) // stays inside 09:00-09:01
		l.RecordDrops(s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := dayLines(t, dir, "2026-03-14")
	want := `{"at":"2026-03-14T09:00:01+01:00","event":"drops","by_reason":{"dynamic":999000,"flood":1000},"by_source":{"203.0.113.5":1000000}}`
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("lines:\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

// A spoofed-source flood keeps maxDropSources sources per line; the rest
// still count in the totals.
func TestAttackLogDropSourcesBounded(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	const n = maxDropSources + 500
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/256), byte(i)})
		l.RecordDrops(dropEv(a, policy.ReasonCountry, at(14, 9, 0)))
	}
	l.Close()
	entries, _, err := ReadDay(dir, "2026-03-14")
	if err != nil || len(entries) != 1 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	if e := entries[0]; len(e.BySource) != maxDropSources || e.ByReason["country"] != n {
		t.Errorf("%d sources, by reason %v", len(e.BySource), e.ByReason)
	}
}

// By default blocks are written at every Flush and drops once a minute;
// Close writes everything.
func TestAttackLogDropsEvery(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, keepAll, zone)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "", false, 1))
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 31)))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if lines := dayLines(t, dir, "2026-03-14"); len(lines) != 1 || !strings.Contains(lines[0], `"block"`) {
		t.Fatalf("after Flush: %q", lines)
	}
	l.Close()
	if lines := dayLines(t, dir, "2026-03-14"); len(lines) != 2 || !strings.Contains(lines[1], `"drops"`) {
		t.Fatalf("after Close: %q", lines)
	}
}

// A write that fails keeps its lines for the next Flush.
func TestAttackLogWriteFailureRetries(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	path := Path(dir, "2026-03-14")
	os.Mkdir(path, 0o750) // the day file cannot be opened
	l.Record(blockEv(scanner, policy.ReasonUserAgent, at(14, 9, 30), "", false, 1))
	l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 31)))
	l.Record(blockEv(guesser, policy.ReasonFailures, at(15, 9, 30), "", false, 1))
	if err := l.Flush(); err == nil || !strings.Contains(err.Error(), "attack log") {
		t.Fatalf("flush into a directory: %v", err)
	}
	if lines := dayLines(t, dir, "2026-03-15"); len(lines) != 1 {
		t.Fatalf("the other day was not written: %q", lines)
	}
	os.Remove(path)
	l.Record(liftEv(scanner, policy.ReasonUserAgent, at(14, 9, 40)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := dayLines(t, dir, "2026-03-14")
	if len(lines) != 3 || !strings.Contains(lines[0], `"block"`) || !strings.Contains(lines[1], `"drops"`) ||
		!strings.Contains(lines[2], `"lift"`) {
		t.Fatalf("after retry: %q", lines)
	}
	if l.Lost() != 0 {
		t.Errorf("lost %d", l.Lost())
	}
}

func TestAttackLogPrune(t *testing.T) {
	dir := t.TempDir()
	adir := filepath.Join(dir, Dir)
	os.MkdirAll(adir, 0o750)
	names := []string{
		"2026-01-01.jsonl", "2026-03-01.jsonl", // past retention
		"2026-03-02.jsonl", "2026-03-31.jsonl", "2026-04-01.jsonl", // kept
		"2026-01-01.jsonl.bak", "2026-02-30.jsonl", "notes.txt", "2026-1-01.jsonl", ".2026-01-01.jsonl",
	}
	for _, n := range names {
		os.WriteFile(filepath.Join(adir, n), []byte("x\n"), 0o600)
	}
	os.Mkdir(filepath.Join(adir, "2025-01-01.jsonl"), 0o750) // not a file
	os.Symlink("/nonexistent", filepath.Join(adir, "2025-01-02.jsonl"))

	l, err := Open(dir, 30, zone) // prunes as of today
	if err != nil {
		t.Fatal(err)
	}
	// Put them back to prune as of a fixed day instead.
	for _, n := range names {
		os.WriteFile(filepath.Join(adir, n), []byte("x\n"), 0o600)
	}
	removed, err := l.Prune(at(31, 23, 59).Add(time.Hour)) // 2026-04-01 00:59 local, 23:59 UTC the day before
	if err != nil || removed != 2 {
		t.Fatalf("removed %d, %v", removed, err)
	}
	var left []string
	ents, _ := os.ReadDir(adir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{".2026-01-01.jsonl", "2025-01-01.jsonl", "2025-01-02.jsonl", "2026-01-01.jsonl.bak", "2026-02-30.jsonl",
		"2026-03-02.jsonl", "2026-03-31.jsonl", "2026-04-01.jsonl", "2026-1-01.jsonl", "notes.txt"}
	if !slices.Equal(left, want) {
		t.Errorf("left %q\nwant %q", left, want)
	}
	days, err := Days(dir)
	if err != nil || !slices.Equal(days, []string{"2026-03-02", "2026-03-31", "2026-04-01"}) {
		t.Errorf("ReportDays = %q, %v", days, err)
	}
	os.RemoveAll(adir)
	if _, err := l.Prune(time.Now()); !errors.Is(err, ErrPrune) {
		t.Errorf("prune of a missing directory: %v", err)
	}
}

// Record and Flush run in different goroutines in the daemon.
func TestAttackLogConcurrentFlush(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if err := l.Flush(); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	for i := range 20000 {
		l.RecordDrops(dropEv(scanner, policy.ReasonDynamic, at(14, 9, 0)))
		if i%1000 == 0 {
			l.Record(blockEv(guesser, policy.ReasonFailures, at(14, 9, 0), "", false, i/1000+1))
		}
	}
	close(stop)
	wg.Wait()
	l.Close()
	r, skipped, err := BuildReport(dir, at(14, 0, 0), zone)
	if err != nil || skipped != 0 || r.Dropped != 20000 || r.Attacks != 20 {
		t.Errorf("dropped %d, attacks %d, skipped %d, %v", r.Dropped, r.Attacks, skipped, err)
	}
}

func TestRecordDropsNoAllocs(t *testing.T) {
	l := openLog(t, t.TempDir())
	s := dropEv(scanner, policy.ReasonDynamic, at(14, 9, 0))
	l.RecordDrops(s)
	if n := testing.AllocsPerRun(1000, func() { l.RecordDrops(s) }); n != 0 {
		t.Errorf("RecordDrops allocates %v times", n)
	}
}

func BenchmarkRecordDrops(b *testing.B) {
	l := openLog(b, b.TempDir())
	s := dropEv(scanner, policy.ReasonDynamic, at(14, 9, 0))
	b.ReportAllocs()
	for b.Loop() {
		s.At = s.At.Add(time.Nanosecond)
		l.RecordDrops(s)
	}
}

// The counts of forged-looking traffic (credentials answering no challenge
// of their source, scans refused for a proven source) ride on the drops
// lines, even in an hour that dropped nothing, and add up in the report;
// a drops line written before they existed reads as 0 of each.
func TestAttackLogForgedCounts(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.RecordDrops(&policy.DropSample{At: at(14, 9, 0), Unbound: 1000, ProvenRefused: 400})
	l.RecordDrops(&policy.DropSample{At: at(14, 9, 1), Unbound: 1000, ProvenRefused: 600})
	l.FlushAll()
	s := dropEv(scanner, policy.ReasonDeny, at(14, 10, 0))
	s.Unbound = 5
	l.RecordDrops(s)
	l.Close()
	lines := dayLines(t, dir, "2026-03-14")
	if len(lines) != 2 || !strings.Contains(lines[0], `"unbound_credentials":2000,"failures_refused_proven":1000`) ||
		!strings.Contains(lines[1], `"unbound_credentials":5}`) {
		t.Fatalf("lines:\n%s", strings.Join(lines, "\n"))
	}
	// A line of an older sipprot, without the counts.
	f, err := os.OpenFile(Path(dir, "2026-03-14"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `{"at":"2026-03-14T11:00:00+01:00","event":"drops","by_reason":{"deny":2},"by_source":{"203.0.113.5":2}}`)
	f.Close()
	r, skipped, err := BuildReport(dir, at(14, 0, 0), zone)
	if err != nil || skipped != 0 {
		t.Fatalf("skipped %d, %v", skipped, err)
	}
	if r.UnboundCredentials != 2005 || r.ProvenRefused != 1000 || r.Dropped != 3 {
		t.Errorf("report: unbound %d, proven refused %d, dropped %d; want 2005, 1000, 3", r.UnboundCredentials, r.ProvenRefused, r.Dropped)
	}
}
