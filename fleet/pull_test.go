package fleet

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/fleet/lapitest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// recorder keeps what ChangeFunc delivered, as the engine would.
type recorder struct {
	mu    sync.Mutex
	held  map[netip.Prefix]Decision
	calls int
}

func newRecorder() *recorder { return &recorder{held: map[netip.Prefix]Decision{}} }

func (r *recorder) change(add []Decision, del []netip.Prefix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	for _, d := range add {
		r.held[d.Prefix] = d
	}
	for _, p := range del {
		delete(r.held, p)
	}
}

func (r *recorder) get(p string) (Decision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.held[netip.MustParsePrefix(p)]
	return d, ok
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

func pullConfig(l *lapi) Config {
	return Config{LAPIURL: l.url, APIKey: testAPIKey, PollEvery: 200 * time.Millisecond}
}

// cscli's decisions are pulled with origin cscli and go when deleted; this
// host's pushes come back marked Own, another sipprot host's do not.
func TestPullOriginsAndOwn(t *testing.T) {
	l := startLAPI(t)
	l.addMachine("pbx2", "pbx2-password-0123456789")
	rec := newRecorder()
	cfg := pullConfig(l)
	cfg.MachineID, cfg.Password, cfg.OutboxDir = testMachine, testPassword, t.TempDir()
	c, err := New(cfg, rec.change)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	other, err := New(Config{LAPIURL: l.url, MachineID: "pbx2", Password: "pbx2-password-0123456789", OutboxDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, other)

	l.cscli("decisions", "add", "-i", "203.0.113.5")
	testutil.WaitFor(t, 30*time.Second, "the cscli decision", func() bool { _, ok := rec.get("203.0.113.5/32"); return ok })
	d, _ := rec.get("203.0.113.5/32")
	if d.Origin != "cscli" || d.Own || d.ID == 0 || time.Until(d.Until) < 3*time.Hour {
		t.Errorf("cscli decision = %+v", d)
	}

	_ = c.Push(Block{Addr: netip.MustParseAddr("192.0.2.40"), Reason: "failures", Until: time.Now().Add(time.Hour)})
	_ = other.Push(Block{Addr: netip.MustParseAddr("192.0.2.41"), Reason: "tftp", Until: time.Now().Add(time.Hour)})
	testutil.WaitFor(t, 30*time.Second, "both sipprot decisions", func() bool {
		_, a := rec.get("192.0.2.40/32")
		_, b := rec.get("192.0.2.41/32")
		return a && b
	})
	if d, _ := rec.get("192.0.2.40/32"); !d.Own || d.Origin != "sipprot/pbx1" || d.Scenario != "sipprot/failures" {
		t.Errorf("own decision = %+v, want Own", d)
	}
	if d, _ := rec.get("192.0.2.41/32"); d.Own || d.Origin != "sipprot/pbx2" || d.Scenario != "sipprot/tftp" {
		t.Errorf("other host's decision = %+v", d)
	}
	st := c.Status()
	if !st.PullConnected || st.InForce["cscli"] != 1 || st.InForce["sipprot/pbx1"] != 1 || st.InForce["sipprot/pbx2"] != 1 {
		t.Errorf("status = %+v", st)
	}

	l.cscli("decisions", "delete", "-i", "203.0.113.5")
	testutil.WaitFor(t, 30*time.Second, "the deletion", func() bool { _, ok := rec.get("203.0.113.5/32"); return !ok })
}

// Ranges wider than /16 (IPv4) or /32 (IPv6), scopes other than Ip and
// Range, types other than ban and origins not configured are refused and
// counted; narrower ranges are kept.
func TestPullRefusals(t *testing.T) {
	l := startLAPI(t)
	for _, args := range [][]string{
		{"-r", "198.51.100.0/24"},
		{"-r", "2001:db8:1::/48"},
		{"-r", "192.0.0.0/15"},
		{"-r", "2001:db8::/31"},
		{"--scope", "Country", "-v", "FR"},
		{"-i", "203.0.113.9", "-t", "captcha"},
	} {
		l.cscli(append([]string{"decisions", "add"}, args...)...)
	}
	rec := newRecorder()
	c, err := New(pullConfig(l), rec.change)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	testutil.WaitFor(t, 30*time.Second, "the first pull", func() bool { return !c.Status().LastPull.IsZero() })
	if rec.len() != 2 {
		t.Errorf("held %v, want the /24 and the /48", rec.held)
	}
	for _, p := range []string{"198.51.100.0/24", "2001:db8:1::/48"} {
		if _, ok := rec.get(p); !ok {
			t.Errorf("%s not pulled", p)
		}
	}
	// Country decisions are not in the stream's default scopes (ip,range).
	r := c.Status().Refusals
	if r.RangeTooWide != 2 || r.Type != 1 {
		t.Errorf("refusals = %+v, want 2 too wide, 1 type", r)
	}

	cfg := pullConfig(l)
	cfg.Origins = []string{"crowdsec"}
	only, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, only)
	testutil.WaitFor(t, 30*time.Second, "the first pull", func() bool { return !only.Status().LastPull.IsZero() })
	if st := only.Status(); len(st.InForce) != 0 || st.Refusals.Origin != 2 {
		t.Errorf("origins [crowdsec]: status %+v, want the 2 cscli ranges refused by origin", st)
	}
}

// A stream larger than MaxDecisions fills the set to the bound and counts
// the rest; the heap cost per decision held is reported.
func TestMaxDecisions(t *testing.T) {
	l := startLAPI(t)
	const n, maxN = 3000, 2000
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("2001:db8:7::%x", i+1)
	}
	l.cscli("decisions", "import", "-i", lapitest.ImportFile(t, filepath.Join(t.TempDir(), "import.json"), "4h", addrs))

	rec := newRecorder()
	cfg := pullConfig(l)
	cfg.MaxDecisions = maxN
	c, err := New(cfg, rec.change)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	testutil.WaitFor(t, 60*time.Second, "the first pull", func() bool { return !c.Status().LastPull.IsZero() })
	st := c.Status()
	if st.LastPullErr != "" || st.InForce["cscli-import"] != maxN || st.Refusals.Full != n-maxN || rec.len() != maxN {
		t.Errorf("status = %+v, delivered %d; want %d held, %d refused", st, rec.len(), maxN, n-maxN)
	}
}

// A client seeded with the set of its last run lifts, at its first pull,
// the seeded decisions the LAPI no longer holds and keeps the others
// without announcing them again.
func TestSeedLiftsWhatWentAway(t *testing.T) {
	l := startLAPI(t)
	l.cscli("decisions", "add", "-i", "203.0.113.6")
	// The id the LAPI gave it, as the last run would have saved it.
	first := newRecorder()
	c, err := New(pullConfig(l), first.change)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	testutil.WaitFor(t, 30*time.Second, "the cscli decision", func() bool { _, ok := first.get("203.0.113.6/32"); return ok })
	stop()
	kept, _ := first.get("203.0.113.6/32")
	gone := Decision{Prefix: netip.MustParsePrefix("203.0.113.7/32"), Origin: "cscli", Scenario: "manual", Until: time.Now().Add(time.Hour), ID: 999999}

	rec := newRecorder()
	rec.held[kept.Prefix], rec.held[gone.Prefix] = kept, gone
	c, err = New(pullConfig(l), rec.change)
	if err != nil {
		t.Fatal(err)
	}
	c.Seed([]Decision{kept, gone})
	runClient(t, c)
	testutil.WaitFor(t, 30*time.Second, "the first pull", func() bool { return c.Status().PullConnected })
	if _, ok := rec.get("203.0.113.7/32"); ok {
		t.Error("a seeded decision the LAPI no longer holds was not lifted")
	}
	if _, ok := rec.get("203.0.113.6/32"); !ok {
		t.Error("a seeded decision still in force was lifted")
	}
	rec.mu.Lock()
	calls := rec.calls
	rec.mu.Unlock()
	if calls != 1 {
		t.Errorf("%d change calls, want 1 (the lift only)", calls)
	}
}

// Another origin's ban on an address this host also banned, for longer, is
// still the one delivered: the caller does not enforce its own decisions,
// so reporting the own one would leave the other origin's ban unenforced.
// Once the other ban goes, the own one is delivered (and the caller stops
// enforcing the address as a fleet block).
func TestOtherOriginWinsOverOwn(t *testing.T) {
	l := startLAPI(t)
	rec := newRecorder()
	cfg := pullConfig(l)
	cfg.MachineID, cfg.Password, cfg.OutboxDir = testMachine, testPassword, t.TempDir()
	c, err := New(cfg, rec.change)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	const ip, p = "192.0.2.50", "192.0.2.50/32"
	// Own ban first and longer (10 h), then cscli's (1 h): both deltas.
	if err := c.Push(Block{Addr: netip.MustParseAddr(ip), Reason: "failures", Until: time.Now().Add(10 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the own decision", func() bool { d, ok := rec.get(p); return ok && d.Own })
	l.cscli("decisions", "add", "-i", ip, "-d", "1h")
	testutil.WaitFor(t, 30*time.Second, "the cscli decision to be the one delivered", func() bool {
		d, ok := rec.get(p)
		return ok && !d.Own && d.Origin == "cscli"
	})
	if st := c.Status(); st.InForce["cscli"] != 1 || st.InForce["sipprot/pbx1"] != 0 {
		t.Errorf("in force by origin = %v, want the address counted under cscli", st.InForce)
	}

	// A restarted client gets both in one startup answer: same choice.
	late := newRecorder()
	cfg2 := cfg
	cfg2.OutboxDir = t.TempDir()
	c2, err := New(cfg2, late.change)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c2)
	testutil.WaitFor(t, 30*time.Second, "the startup pull", func() bool { return c2.Status().PullConnected })
	if d, ok := late.get(p); !ok || d.Own || d.Origin != "cscli" {
		t.Errorf("startup delivered %+v (held %v), want the cscli decision", d, ok)
	}

	// The cscli ban deleted: the own one is what remains.
	d, _ := rec.get(p)
	l.cscli("decisions", "delete", "--id", strconv.FormatInt(d.ID, 10))
	testutil.WaitFor(t, 30*time.Second, "the own decision back", func() bool { d, ok := rec.get(p); return ok && d.Own })
}

// A change no delta reports is caught by the periodic full pull: here a
// decision deleted straight in the LAPI's database (the stream's deltas
// only know deletions made through the API), standing for the decisions
// CrowdSec 1.4's deltas miss under a bulk import. With ResyncEvery 1s it
// is lifted; with the default (10 minutes) it stays, so the lift is the
// resync's doing.
func TestResyncCatchesWhatDeltasMiss(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed: cannot change the LAPI's database behind its back")
	}
	l := startLAPI(t)
	l.cscli("decisions", "add", "-i", "203.0.113.8")
	quick, slow := newRecorder(), newRecorder()
	cfg := pullConfig(l)
	cfg.ResyncEvery = time.Second
	for _, c := range []struct {
		cfg Config
		rec *recorder
	}{{cfg, quick}, {pullConfig(l), slow}} {
		cl, err := New(c.cfg, c.rec.change)
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, cl)
		testutil.WaitFor(t, 30*time.Second, "the decision", func() bool { _, ok := c.rec.get("203.0.113.8/32"); return ok })
	}
	if out, err := exec.Command("sqlite3", l.DBPath(), "PRAGMA busy_timeout = 10000; DELETE FROM decisions WHERE value = '203.0.113.8';").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	testutil.WaitFor(t, 15*time.Second, "the resync to lift it", func() bool { _, ok := quick.get("203.0.113.8/32"); return !ok })
	if _, ok := slow.get("203.0.113.8/32"); !ok {
		t.Error("the client without a resync due lifted it too: the deltas do report it, so this test proves nothing")
	}
}
