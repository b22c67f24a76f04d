package fleet

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/fleet/lapitest"
	"github.com/sipprot/sipprot/internal/testutil"
)

func pushConfig(l *lapi, outbox string) Config {
	return Config{LAPIURL: l.url, MachineID: testMachine, Password: testPassword, OutboxDir: outbox, Timeout: 5 * time.Second}
}

func findDecision(as []lapitest.Alert, value string) (lapitest.Alert, int, bool) {
	for _, a := range as {
		for i, d := range a.Decisions {
			if d.Value == value {
				return a, i, true
			}
		}
	}
	return lapitest.Alert{}, 0, false
}

func countAlerts(as []lapitest.Alert, value string) int {
	n := 0
	for _, a := range as {
		for _, d := range a.Decisions {
			if d.Value == value {
				n++
			}
		}
	}
	return n
}

// A pushed block is one alert with one ban that cscli shows with sipprot's
// scenario, origin, remaining duration and meta; Unblock removes this
// host's decision and leaves cscli's on the same address.
func TestPushAndUnblock(t *testing.T) {
	l := startLAPI(t)
	c, err := New(pushConfig(l, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)

	timed, perm := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	if err := c.Push(Block{Addr: timed, Reason: "failures", Until: time.Now().Add(time.Hour), UserAgent: "friendly-scanner", Country: "FR"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Push(Block{Addr: perm, Reason: "user_agent"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "both pushes accepted", func() bool { return c.Status().Pushed == 2 })

	as := l.decisions()
	a, i, ok := findDecision(as, "192.0.2.10")
	if !ok {
		t.Fatalf("192.0.2.10 not in cscli decisions list: %+v", as)
	}
	d := a.Decisions[i]
	if d.Scenario != "sipprot/failures" || d.Origin != "sipprot/pbx1" || d.Type != "ban" || d.Scope != "Ip" || a.MachineID != testMachine {
		t.Errorf("decision = %+v, machine %q", d, a.MachineID)
	}
	if dur, err := time.ParseDuration(d.Duration); err != nil || dur < 58*time.Minute || dur > time.Hour {
		t.Errorf("duration %q, want about 1h", d.Duration)
	}
	metas := map[string]string{}
	for _, m := range a.Meta {
		metas[m.Key] = m.Value
	}
	if metas["user_agent"] != "friendly-scanner" || metas["country"] != "FR" || metas["sipprot_host"] != testMachine || metas[metaID] == "" {
		t.Errorf("alert meta = %v", metas)
	}
	a, i, ok = findDecision(as, "2001:db8::10")
	if !ok {
		t.Fatalf("2001:db8::10 not listed")
	}
	if dur, _ := time.ParseDuration(a.Decisions[i].Duration); dur < PermanentDuration-time.Hour {
		t.Errorf("permanent block pushed for %q, want about %v", a.Decisions[i].Duration, PermanentDuration)
	}

	l.cscli("decisions", "add", "-i", "192.0.2.10", "-d", "2h", "-R", "manual")
	if err := c.Unblock(timed); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "unblock accepted", func() bool { return c.Status().Pushed == 3 })
	as = l.decisions()
	for _, a := range as {
		for _, d := range a.Decisions {
			if d.Value == "192.0.2.10" && d.Origin != "cscli" {
				t.Errorf("after Unblock, %+v still listed", d)
			}
		}
	}
	if n := countAlerts(as, "192.0.2.10"); n != 1 {
		t.Errorf("after Unblock, %d decisions on 192.0.2.10, want cscli's one", n)
	}
}

// A restarted LAPI forgets its JWTs (the signing secret is new): the next
// push gets a 401, logs in again and goes through.
func TestReloginAfter401(t *testing.T) {
	l := startLAPI(t)
	c, err := New(pushConfig(l, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	_ = c.Push(Block{Addr: netip.MustParseAddr("192.0.2.20"), Reason: "flood", Until: time.Now().Add(time.Hour)})
	testutil.WaitFor(t, 30*time.Second, "first push", func() bool { return c.Status().Pushed == 1 })
	if got := c.Status().Logins; got != 1 {
		t.Fatalf("logins = %d, want 1", got)
	}
	l.stop()
	l.start()
	_ = c.Push(Block{Addr: netip.MustParseAddr("192.0.2.21"), Reason: "flood", Until: time.Now().Add(time.Hour)})
	testutil.WaitFor(t, 60*time.Second, "push after the restart", func() bool { return c.Status().Pushed == 2 })
	if got := c.Status().Logins; got != 2 {
		t.Errorf("logins = %d, want 2 (one re-login after the 401)", got)
	}
	if _, _, ok := findDecision(l.decisions(), "192.0.2.21"); !ok {
		t.Error("push after the restart not at the LAPI")
	}
}

// With the LAPI down, pushes wait in the outbox (one file each); when it is
// back they are sent once, in order. A new client on the same outbox after
// a crash that lost the removals (the files put back) finds them at the
// LAPI by their ID and sends nothing twice.
func TestOutboxSurvivesOutageAndRestart(t *testing.T) {
	l := startLAPI(t)
	l.stop()
	dir := t.TempDir()
	addrs := []string{"198.51.100.1", "198.51.100.2", "2001:db8::1:1"}

	a, err := New(pushConfig(l, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	stopA := runClient(t, a)
	for _, s := range addrs {
		if err := a.Push(Block{Addr: netip.MustParseAddr(s), Reason: "failures", Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "three entries in the outbox", func() bool { return a.Status().Outbox == 3 })
	testutil.WaitFor(t, 30*time.Second, "a failed push", func() bool { return a.Status().LastPushErr != "" })
	if st := a.Status(); st.PushConnected || st.Pushed != 0 {
		t.Errorf("status while down = %+v", st)
	}
	stopA()
	files := outboxFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("outbox files = %v, want 3", files)
	}
	saved := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		saved[f] = b
	}

	l.start()
	b, err := New(pushConfig(l, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	stopB := runClient(t, b)
	testutil.WaitFor(t, 60*time.Second, "outbox sent", func() bool { return b.Status().Pushed == 3 })
	stopB()
	if left := outboxFiles(t, dir); len(left) != 0 {
		t.Errorf("outbox after sending = %v", left)
	}
	for _, s := range addrs {
		if n := countAlerts(l.decisions(), s); n != 1 {
			t.Errorf("%s: %d decisions after the resend, want 1", s, n)
		}
	}

	for f, data := range saved { // the crash that lost the removals
		if err := os.WriteFile(f, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(pushConfig(l, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	testutil.WaitFor(t, 60*time.Second, "outbox emptied again", func() bool { return c.Status().Outbox == 0 })
	for _, s := range addrs {
		if n := countAlerts(l.decisions(), s); n != 1 {
			t.Errorf("%s: %d decisions after a second restart, want still 1", s, n)
		}
	}
}

func outboxFiles(t *testing.T, dir string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(dir, "*"+outboxSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// The outbox is bounded: past OutboxMax, pushes are refused and counted.
func TestOutboxBound(t *testing.T) {
	c, err := New(Config{LAPIURL: "http://127.0.0.1:1", MachineID: "pbx9", Password: "pw", OutboxDir: t.TempDir(), OutboxMax: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	for i := range 4 {
		_ = c.Push(Block{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), Reason: "flood"})
	}
	testutil.WaitFor(t, 30*time.Second, "two refusals", func() bool { return c.Status().Refusals.OutboxFull == 2 })
	if st := c.Status(); st.Outbox != 2 {
		t.Errorf("outbox = %d, want 2", st.Outbox)
	}
}

// Secrets never reach logs, errors or the status, even on failed logins.
func TestSecretsNotLeaked(t *testing.T) {
	l := startLAPI(t)
	var logs testutil.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const wrongPW, wrongKey = "Wr0ng-pw-zzzzzzzzzzzz", "Wr0ng-key-yyyyyyyyyyyy"
	cfg := Config{LAPIURL: l.url, MachineID: testMachine, Password: wrongPW, APIKey: wrongKey, OutboxDir: t.TempDir(), Log: log}
	log.Info("config", "cfg", cfg)
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	_ = c.Push(Block{Addr: netip.MustParseAddr("192.0.2.30"), Reason: "failures"})
	testutil.WaitFor(t, 30*time.Second, "failed push and pull", func() bool {
		st := c.Status()
		return st.LastPushErr != "" && st.LastPullErr != ""
	})
	st := c.Status()
	bad := Config{LAPIURL: "ftp://x", Password: wrongPW, APIKey: wrongKey}.Validate()
	all := logs.String() + st.LastPushErr + st.LastPullErr + bad.Error()
	for _, s := range []string{wrongPW, wrongKey} {
		if strings.Contains(all, s) {
			t.Errorf("secret %q leaked:\n%s", s, all)
		}
	}
	if !strings.Contains(st.LastPushErr, "credentials") || !strings.Contains(st.LastPullErr, "403") {
		t.Errorf("errors do not say what failed: push %q, pull %q", st.LastPushErr, st.LastPullErr)
	}
}

// The machine token is replaced before it expires, not after a refusal:
// with the client's clock moved to 3 minutes before the token's expiry
// (the LAPI's "expire", one hour after the login), the next push logs in
// first and is never refused; half an hour in, the token is kept.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	l := startLAPI(t)
	var logs testutil.LogBuffer
	cfg := pushConfig(l, t.TempDir())
	cfg.Log = logs.Logger()
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	c.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	runClient(t, c)
	push := func(ip string, n uint64) {
		t.Helper()
		_ = c.Push(Block{Addr: netip.MustParseAddr(ip), Reason: "flood", Until: time.Now().Add(time.Hour)})
		testutil.WaitFor(t, 30*time.Second, "push "+ip, func() bool { return c.Status().Pushed == n })
	}
	push("192.0.2.30", 1)
	offset.Store(int64(30 * time.Minute))
	push("192.0.2.31", 2)
	if got := c.Status().Logins; got != 1 {
		t.Errorf("logins = %d half an hour into the token, want 1 (kept)", got)
	}
	offset.Store(int64(57 * time.Minute))
	push("192.0.2.32", 3)
	if got := c.Status().Logins; got != 2 {
		t.Errorf("logins = %d 3 minutes before the token's expiry, want 2 (renewed)", got)
	}
	if logs.Contains("token refused") {
		t.Errorf("the token was refused instead of renewed:\n%s", logs.String())
	}
}
