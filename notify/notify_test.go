package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/internal/testutil"
)

// addrsIn returns which of the first n sources an email's text lists.
func addrsIn(text string, n int) []int {
	var got []int
	for i := 1; i <= n; i++ {
		if strings.Contains(text, "\n"+blockEvent(i, t0).Addr.String()+"\n") {
			got = append(got, i)
		}
	}
	return got
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// 100 blocks within one hour: one alert at the first block, then one at
// the next period with the other 99.
func TestAlertBatching(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com", "soc@example.com"), t.TempDir(), clock, nil, nil, nil)

	r.n.Block(blockEvent(1, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "the first alert", func() bool { return srv.count() == 1 })
	first := srv.messages()[0]
	if first.Subject != "sipprot: 1 source blocked on pbx1.test" {
		t.Errorf("subject %q", first.Subject)
	}
	if got := addrsIn(first.Text, 100); !slices.Equal(got, []int{1}) {
		t.Errorf("first alert lists sources %v, want [1]", got)
	}
	if strings.Join(first.To, ",") != "ops@example.com,soc@example.com" {
		t.Errorf("recipients %v", first.To)
	}

	for i := 2; i <= 100; i++ {
		clock.Advance(30 * time.Second) // 99 blocks over 49.5 minutes
		r.n.Block(blockEvent(i, clock.Now()))
	}
	testutil.WaitFor(t, 10*time.Second, "99 pending blocks", func() bool { return r.n.Status().PendingBlocks == 99 })
	clock.Advance(t0.Add(time.Hour - time.Second).Sub(clock.Now())) // 59:59 after the first alert
	never(t, "an alert before the period is over", func() bool { return srv.count() > 1 })
	if st := r.n.Status(); !st.NextAlert.Equal(t0.Add(time.Hour)) {
		t.Errorf("next alert %v, want %v", st.NextAlert, t0.Add(time.Hour))
	}

	clock.Advance(time.Second)
	testutil.WaitFor(t, 10*time.Second, "the batched alert", func() bool { return srv.count() == 2 })
	second := srv.messages()[1]
	if second.Subject != "sipprot: 99 sources blocked on pbx1.test" {
		t.Errorf("subject %q", second.Subject)
	}
	if got := addrsIn(second.Text, 100); !slices.Equal(got, seq(2, 100)) {
		t.Errorf("batched alert lists %v, want 2..100", got)
	}
	for i := 2; i <= 100; i++ {
		if a := blockEvent(i, t0).Addr.String(); !strings.Contains(second.HTML, "<td>"+a+"</td>") {
			t.Errorf("HTML part lacks %s", a)
		}
	}
	for _, want := range []string{"reason:      user_agent", `User-Agent:  "friendly-scanner"`, "country:     FR",
		"unblock:     sipprot unblock 203.0.113.2", "blocks:      1 in this email, 1 in all", "per 1h (notify.per_attack_every)"} {
		if !strings.Contains(second.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, second.Text)
		}
	}
	clock.advanceBy(3*time.Hour, time.Minute)
	never(t, "a third alert without blocks", func() bool { return srv.count() > 2 })
	if st := r.n.Status(); st.Pending != 0 || st.PendingBlocks != 0 || !st.LastOK || !strings.HasPrefix(st.LastResult, "250 ") {
		t.Errorf("status %+v", st)
	}
}

// A source blocked again before the alert is one entry with its count.
func TestAlertMergesRepeats(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com"), t.TempDir(), clock, nil, nil, nil)
	r.n.Block(blockEvent(1, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "the first alert", func() bool { return srv.count() == 1 })
	for c := 2; c <= 4; c++ {
		ev := blockEvent(7, clock.Now())
		ev.Count, ev.Permanent = c, c == 4
		r.n.Block(ev)
		clock.Advance(11 * time.Minute)
	}
	clock.Advance(time.Hour)
	testutil.WaitFor(t, 10*time.Second, "the batched alert", func() bool { return srv.count() == 2 })
	text := srv.messages()[1].Text
	if !strings.Contains(text, "blocks:      3 in this email, 4 in all") || !strings.Contains(text, "until:       permanent") {
		t.Errorf("repeats not merged:\n%s", text)
	}
}

// The server is down for 10 minutes, the daemon restarts in between:
// every block is delivered, in exactly one email, once.
func TestServerDownRestartDeliversOnce(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	srv.stop()
	clock := newFakeClock(t0)
	dir := t.TempDir()
	cfg := testConfig(srv, "ops@example.com")
	r := startNotifier(t, cfg, dir, clock, nil, nil, nil)

	r.n.Block(blockEvent(1, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "a failed delivery", func() bool { st := r.n.Status(); return st.Pending == 1 && !st.LastDelivery.IsZero() })
	if st := r.n.Status(); st.LastOK || !strings.Contains(st.LastResult, "connection refused") || !st.NextTry.Equal(t0.Add(30*time.Second)) {
		t.Errorf("status after the first failure %+v", st)
	}
	for i := 2; i <= 5; i++ {
		clock.advanceBy(time.Minute, 10*time.Second)
		r.n.Block(blockEvent(i, clock.Now()))
	}
	clock.advanceBy(5*time.Minute, 10*time.Second)

	// Restart, the server still down.
	r.stop()
	disk, err := ReadStatus(dir)
	if err != nil || disk.Pending != 1 || disk.PendingBlocks != 4 || disk.LastOK {
		t.Fatalf("status on disk %+v, %v; want 1 email and 4 blocks waiting", disk, err)
	}
	r = startNotifier(t, cfg, dir, clock, nil, nil, nil)
	if st := r.n.Status(); st.Pending != 1 || st.PendingBlocks != 4 {
		t.Errorf("after restart %+v", st)
	}
	clock.advanceBy(4*time.Minute, 10*time.Second) // 10 minutes down

	srv.start()
	clock.advanceBy(time.Hour, 10*time.Second) // past the backoff and the next period (07:00)
	testutil.WaitFor(t, 10*time.Second, "both alerts", func() bool { return srv.count() == 2 })
	clock.advanceBy(2*time.Hour, time.Minute)
	r.stop()
	r = startNotifier(t, cfg, dir, clock, nil, nil, nil)
	clock.advanceBy(2*time.Hour, time.Minute)
	never(t, "an email sent twice", func() bool { return srv.count() > 2 })

	msgs := srv.messages()
	var all []int
	for _, m := range msgs {
		all = append(all, addrsIn(m.Text, 5)...)
	}
	slices.Sort(all)
	if !slices.Equal(all, seq(1, 5)) {
		t.Errorf("sources across the emails %v, want each of 1..5 once", all)
	}
	if files, _ := outboxFiles(filepath.Join(dir, DirName)); len(files) != 0 {
		t.Errorf("outbox still holds %v", files)
	}
	if st := r.n.Status(); st.Pending != 0 || !st.LastOK {
		t.Errorf("final status %+v", st)
	}
}

// A crash after the alert's email was written but before the state was
// saved: the restart finds the email and does not alert the blocks again.
func TestCrashBetweenOutboxAndState(t *testing.T) {
	dir := t.TempDir()
	ndir := filepath.Join(dir, DirName)
	var b batch
	b.add(blockEvent(1, t0), maxBatch)
	if err := writeState(ndir, &stateDoc{Version: 1, Seq: 4, Batch: b, LastDaily: "2026-11-23"}); err != nil {
		t.Fatal(err)
	}
	m := &Mail{ID: mailID(5, kindAlert), Kind: kindAlert, Seq: 5, To: []string{"ops@example.com"}, Subject: "s", Text: "203.0.113.1", Created: t0}
	if err := writeMail(ndir, m); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ndir, outboxName, ".0000000006-alert.json.123"), []byte("{"), 0o600) // a torn write

	n := New(testConfig(nil, "ops@example.com"), dir, nil, nil, WithClock(newFakeClock(t0)))
	st := n.Status()
	if st.PendingBlocks != 0 || st.Pending != 1 || n.doc.Seq != 5 || !n.doc.LastAlert.Equal(t0) {
		t.Errorf("after recovery %+v seq %d last alert %v; want the batch gone, one email, seq 5", st, n.doc.Seq, n.doc.LastAlert)
	}
	if _, err := os.Stat(filepath.Join(ndir, outboxName, ".0000000006-alert.json.123")); err == nil {
		t.Error("torn temporary file left")
	}
}

// A corrupt state file is set aside; notifications go on.
func TestCorruptStateSetAside(t *testing.T) {
	dir := t.TempDir()
	ndir := filepath.Join(dir, DirName)
	os.MkdirAll(filepath.Join(ndir, outboxName), 0o750)
	os.WriteFile(filepath.Join(ndir, stateName), []byte("{not json"), 0o600)
	os.WriteFile(filepath.Join(ndir, outboxName, "0000000001-alert.json"), []byte("{"), 0o600)
	var log testLog
	n := New(testConfig(nil, "ops@example.com"), dir, nil, log.logger(), WithClock(newFakeClock(t0)))
	if st := n.Status(); st.Pending != 0 {
		t.Errorf("status %+v", st)
	}
	asides, _ := filepath.Glob(filepath.Join(ndir, "*", "*.corrupt-*"))
	asides2, _ := filepath.Glob(filepath.Join(ndir, "*.corrupt-*"))
	if len(asides)+len(asides2) != 2 || !strings.Contains(log.String(), "notify state unreadable") {
		t.Errorf("set aside %v %v; log %s", asides, asides2, log.String())
	}
}

// The server refuses (451) and comes back: retries follow the backoff
// (30s, 1m, 2m, … up to 10m), then everything goes, once.
func TestRetryBackoff(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	srv.setRefuse(true)
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com"), t.TempDir(), clock, nil, nil, nil)
	r.n.Block(blockEvent(1, clock.Now()))
	var waits []time.Duration
	last := time.Time{}
	for {
		testutil.WaitFor(t, 10*time.Second, "a retry", func() bool { st := r.n.Status(); return st.LastDelivery.After(last) })
		st := r.n.Status()
		waits = append(waits, st.NextTry.Sub(st.LastDelivery))
		last = st.LastDelivery
		if len(waits) == 6 {
			break
		}
		clock.Advance(st.NextTry.Sub(clock.Now()))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	srv.setRefuse(false)
	clock.Advance(10 * time.Minute)
	testutil.WaitFor(t, 10*time.Second, "the delivery", func() bool { return r.n.Status().LastOK })
	if st := r.n.Status(); st.Pending != 0 || srv.count() != 1 {
		t.Errorf("status %+v, %d messages", st, srv.count())
	}
}

// No recipients or no server: nothing is sent, and it is logged once.
func TestOff(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	var log testLog
	cfg := testConfig(srv)
	r := startNotifier(t, cfg, t.TempDir(), clock, nil, nil, log.logger())
	for i := 1; i <= 5; i++ {
		r.n.Block(blockEvent(i, clock.Now()))
		clock.advanceBy(time.Hour, 10*time.Minute)
	}
	never(t, "an email with no recipients", func() bool { return srv.count() > 0 })
	if n := strings.Count(log.String(), "email notifications off"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, log.String())
	}
	if st := r.n.Status(); st.Off != "no recipients" || st.PendingBlocks != 0 {
		t.Errorf("status %+v", st)
	}
	// Recipients added by a reload: the next block is alerted.
	on := *cfg
	on.Notify.Recipients = []string{"ops@example.com"}
	r.n.Reload(&on)
	r.n.Block(blockEvent(9, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "an alert after reload", func() bool { return srv.count() == 1 })
	if got := addrsIn(srv.messages()[0].Text, 9); !slices.Equal(got, []int{9}) {
		t.Errorf("alert lists %v, want [9] only", got)
	}
}

// Blocks past the batch limit are counted, not listed, and not lost.
func TestBatchLimit(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com"), t.TempDir(), clock, nil, nil, nil)
	r.n.mu.Lock()
	r.n.maxBatch = 10
	r.n.mu.Unlock()
	r.n.Block(blockEvent(1, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "the first alert", func() bool { return srv.count() == 1 })
	for i := 2; i <= 30; i++ {
		r.n.Block(blockEvent(i, clock.Now()))
	}
	r.n.Block(blockEvent(30, clock.Now()))
	clock.Advance(time.Hour)
	testutil.WaitFor(t, 10*time.Second, "the batched alert", func() bool { return srv.count() == 2 })
	m := srv.messages()[1]
	if got := addrsIn(m.Text, 30); !slices.Equal(got, seq(2, 11)) {
		t.Errorf("listed %v, want 2..11", got)
	}
	if !strings.Contains(m.Text, "And 19 more sources (20 blocks), not listed") || m.Subject != "sipprot: 29 sources blocked on pbx1.test" {
		t.Errorf("subject %q text:\n%s", m.Subject, m.Text)
	}
}

var dayReport = attacks.Report{
	Date:            "2026-11-23",
	Attacks:         12,
	AttacksByReason: map[string]int{"user_agent": 8, "failures": 4},
	BlocksMade:      12,
	MadePermanent:   1,
	BlocksLifted:    10,
	Dropped:         3456,
	DroppedByReason: map[string]uint64{"dynamic": 3356, "deny": 100},
	TopSources: []attacks.Source{
		{IP: "203.0.113.5", Country: "CN", UserAgent: "<script>alert(1)</script>", Reason: "user_agent", Blocks: 3, Dropped: 1200, Permanent: true},
		{IP: "2001:db8::66", Country: "", UserAgent: "evil\r\nBcc: victim@example.org\r\n\r\n<b>x</b>", Reason: "failures", Blocks: 1, Dropped: 7},
	},
	Hours: func() []attacks.Hour {
		h := make([]attacks.Hour, 24)
		for i := range h {
			h[i].Hour = i
		}
		h[3] = attacks.Hour{Hour: 3, Attacks: 12, BlocksLifted: 10, Dropped: 3456}
		return h
	}(),
}

// The daily summary at daily_at covers the day before, once; quiet days
// follow daily_summary_quiet.
func TestDailySummary(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0) // 06:00, Tuesday 24
	var (
		mu    sync.Mutex
		asked []time.Time
		quiet bool
	)
	report := func(day time.Time) (attacks.Report, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, day)
		if quiet {
			return attacks.Report{Date: day.Format(time.DateOnly), Hours: make([]attacks.Hour, 24)}, nil
		}
		return dayReport, nil
	}
	askedDays := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(asked)
	}
	cfg := testConfig(srv, "ops@example.com")
	cfg.Notify.DailySummaryQuiet = false
	r := startNotifier(t, cfg, t.TempDir(), clock, nil, report, nil)

	clock.advanceBy(59*time.Minute, time.Minute)
	never(t, "a summary before 07:00", func() bool { return srv.count() > 0 })
	clock.Advance(time.Minute)
	testutil.WaitFor(t, 10*time.Second, "the daily summary", func() bool { return srv.count() == 1 })
	if want := []time.Time{time.Date(2026, 11, 23, 0, 0, 0, 0, paris)}; !slices.EqualFunc(askedDays(), want, time.Time.Equal) {
		t.Errorf("report asked for %v, want %v", askedDays(), want)
	}
	m := srv.messages()[0]
	if m.Subject != "sipprot daily report for 2026-11-23 on pbx1.test: 12 attacks" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"Attacks (blocks made):  12", "  user_agent", "Made permanent:", "Blocks lifted:          10",
		"Packets dropped:        3456", "  dynamic               3356", "203.0.113.5", "CN", `"<script>alert(1)</script>"`,
		`"evil\r\nBcc: victim@example.org\r\n\r\n<b>x</b>"`, "03:00", "sipprot report --date 2026-11-23"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	checkInert(t, m)

	// Tuesday's report is quiet: skipped (daily_summary_quiet = false).
	mu.Lock()
	quiet = true
	mu.Unlock()
	clock.advanceBy(24*time.Hour, 10*time.Minute)
	never(t, "a summary of a quiet day", func() bool { return srv.count() > 1 })
	if n := len(askedDays()); n != 2 {
		t.Errorf("report asked %d times, want 2", n)
	}
	// With daily_summary_quiet = true (the default), a quiet day gets a
	// short email.
	loud := *cfg
	loud.Notify.DailySummaryQuiet = true
	r.n.Reload(&loud)
	clock.advanceBy(24*time.Hour, 10*time.Minute)
	testutil.WaitFor(t, 10*time.Second, "the all quiet summary", func() bool { return srv.count() == 2 })
	if m := srv.messages()[1]; m.Subject != "sipprot daily report for 2026-11-25 on pbx1.test: all quiet" || !strings.Contains(m.Text, "All quiet") {
		t.Errorf("quiet summary %q:\n%s", m.Subject, m.Text)
	}
}

// checkInert checks that attacker text in an email is only text: the
// message has our headers only, the HTML has no tag from it.
func checkInert(t *testing.T, m received) {
	t.Helper()
	if len(m.To) != 1 || m.To[0] != "ops@example.com" || m.Header.Get("Bcc") != "" {
		t.Errorf("recipients %v, Bcc %q: header injection", m.To, m.Header.Get("Bcc"))
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>x</b>") {
		t.Errorf("HTML carries attacker markup:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML lacks the escaped User-Agent:\n%s", m.HTML)
	}
	for _, line := range strings.Split(m.Text, "\n") {
		if strings.HasPrefix(line, "Bcc:") {
			t.Errorf("text has a line of attacker text: %q", line)
		}
	}
}

// An alert with hostile User-Agents: inert in text and HTML, no header.
func TestAlertInjection(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com"), t.TempDir(), clock, nil, nil, nil)
	a := blockEvent(1, clock.Now())
	a.UserAgent = "<script>alert(1)</script>"
	b := blockEvent(2, clock.Now())
	b.UserAgent = "evil\r\nBcc: victim@example.org\r\nSubject: pwned\r\n\r\n<b>x</b>"
	r.n.mu.Lock()
	r.n.doc.Batch.add(a, maxBatch)
	r.n.doc.Batch.add(b, maxBatch)
	r.n.mu.Unlock()
	r.n.Block(blockEvent(3, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "the alert", func() bool { return srv.count() == 1 })
	m := srv.messages()[0]
	checkInert(t, m)
	if m.Subject != "sipprot: 3 sources blocked on pbx1.test" || len(m.Header["Subject"]) != 1 {
		t.Errorf("subject %q %v", m.Subject, m.Header["Subject"])
	}
	if !strings.Contains(m.Text, `User-Agent:  "evil\r\nBcc: victim@example.org\r\nSubject: pwned\r\n\r\n<b>x</b>"`) {
		t.Errorf("text does not quote the User-Agent:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `&#34;evil\r\nBcc: victim@example.org\r\nSubject: pwned\r\n\r\n&lt;b&gt;x&lt;/b&gt;&#34;`) {
		t.Errorf("HTML lacks the escaped User-Agent:\n%s", m.HTML)
	}
}

// What `sipprot status` shows without the daemon.
func TestReadStatus(t *testing.T) {
	dir := t.TempDir()
	if st, err := ReadStatus(dir); err != nil || st != (Status{}) {
		t.Errorf("empty state dir: %+v, %v", st, err)
	}
	srv := newSMTPServer(t, conf.TLSNone, nil, "", "")
	clock := newFakeClock(t0)
	r := startNotifier(t, testConfig(srv, "ops@example.com"), dir, clock, nil, nil, nil)
	r.n.Block(blockEvent(1, clock.Now()))
	testutil.WaitFor(t, 10*time.Second, "the alert delivered", func() bool { return r.n.Status().LastOK })
	r.n.Block(blockEvent(2, clock.Now()))
	r.stop()
	st, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastOK || !st.LastDelivery.Equal(t0) || st.Pending != 0 || st.PendingBlocks != 1 || !st.NextAlert.Equal(t0.Add(time.Hour)) {
		t.Errorf("status %+v", st)
	}
	got := st.Summary()
	want := fmt.Sprintf("notify: on; last email %s: %s; 0 emails waiting; 1 block for the next alert", t0.Format(time.RFC3339), st.LastResult)
	if got != want {
		t.Errorf("summary %q\nwant    %q", got, want)
	}
	// The file is JSON with lower_snake_case keys.
	data, _ := os.ReadFile(filepath.Join(dir, DirName, stateName))
	var doc map[string]any
	if json.Unmarshal(data, &doc) != nil || doc["status"].(map[string]any)["last_ok"] != true {
		t.Errorf("state.json: %s", data)
	}
}
