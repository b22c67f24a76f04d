package manage

import (
	"context"
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

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// Both ways to the running daemon are a Daemon.
var _ Daemon = (*control.Client)(nil)

// fakeDaemon records what it is asked; with err set it answers every
// call with it (control.ErrNoDaemon: none runs).
type fakeDaemon struct {
	mu     sync.Mutex
	err    error
	calls  []string
	blocks []savedblocks.JSON
	lifted []string
}

func (f *fakeDaemon) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

func (f *fakeDaemon) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeDaemon) Status(context.Context) (*control.Status, error) {
	if err := f.call("status"); err != nil {
		return nil, err
	}
	return &control.Status{PID: 7, Running: true, Updated: time.Now()}, nil
}

func (f *fakeDaemon) Blocks(context.Context) ([]savedblocks.JSON, error) {
	return f.blocks, f.call("blocks")
}

func (f *fakeDaemon) Unblock(_ context.Context, ips []string) ([]control.UnblockResult, error) {
	if err := f.call("unblock " + strings.Join(ips, " ")); err != nil {
		return nil, err
	}
	var out []control.UnblockResult
	for _, ip := range ips {
		out = append(out, control.UnblockResult{IP: ip})
	}
	return out, nil
}

func (f *fakeDaemon) ReloadLists(context.Context) (control.ListsReply, error) {
	return control.ListsReply{Lifted: f.lifted}, f.call("reload lists")
}

func (f *fakeDaemon) ReloadConfig(context.Context) error { return f.call("reload config") }

func (f *fakeDaemon) Report(_ context.Context, date string) (attacks.Report, error) {
	return attacks.Report{Date: date, Attacks: 99}, f.call("report " + date)
}

func (f *fakeDaemon) Fleet(context.Context, string, int) (control.FleetBlocks, error) {
	return control.FleetBlocks{}, nil
}

func (f *fakeDaemon) ReloadGeoIP(context.Context) (geoip.Status, error) {
	return geoip.Status{}, f.call("reload geoip")
}

// fixture is a config whose lists and state live in a temporary
// directory, and a Service on it.
type fixture struct {
	t      *testing.T
	dir    string
	daemon *fakeDaemon
	svc    *Service
}

var now = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, daemonErr error) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, daemon: &fakeDaemon{err: daemonErr}}
	f.write("sipprot.conf", fmt.Sprintf("# ours\n[lists]\nallow = %q\ndeny = %q\n[state]\ndir = %q\n[admin]\nsocket = %q\n",
		f.path("allowlist"), f.path("denylist"), f.path("state"), f.path("none.sock")))
	f.svc = New(Options{ConfigPath: f.path("sipprot.conf"), MustExist: true, Daemon: f.daemon,
		Now: func() time.Time { return now }, Location: time.UTC})
	return f
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

func (f *fixture) write(name, text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path(name), []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// read returns a file's contents, "" when there is none.
func (f *fixture) read(name string) string {
	b, _ := os.ReadFile(f.path(name))
	return string(b)
}

func (f *fixture) saveBlocks(blocks ...policy.BlockState) {
	f.t.Helper()
	os.MkdirAll(f.path("state"), 0o750)
	if err := savedblocks.Save(f.path("state"), blocks, now); err != nil {
		f.t.Fatal(err)
	}
}

func block(ip string, until time.Time) policy.BlockState {
	return policy.BlockState{Addr: netip.MustParseAddr(ip), Reason: policy.ReasonFailures, Active: true, Count: 2, Until: until}
}

var ctx = context.Background()

func TestDenyOverlappingAllowRefused(t *testing.T) {
	for _, addr := range []string{"192.0.2.7", "192.0.0.0/16"} { // inside, and around
		f := newFixture(t, nil)
		f.write("allowlist", "192.0.2.0/24 office\n")
		_, err := f.svc.Add(ctx, Deny, addr, "")
		if err == nil || !strings.Contains(err.Error(), "refused: ") || !strings.Contains(err.Error(), "the allow list wins") {
			t.Errorf("deny add %s: %v, want a refusal", addr, err)
		}
		if got := f.read("denylist"); got != "" {
			t.Errorf("deny add %s wrote %q", addr, got)
		}
		if got := f.daemon.asked(); len(got) != 0 {
			t.Errorf("deny add %s asked the daemon %v", addr, got)
		}
	}
}

func TestAddAppliesAndTellsTheDaemon(t *testing.T) {
	f := newFixture(t, nil)
	f.daemon.lifted = []string{"192.0.2.66"}
	r, err := f.svc.Add(ctx, Deny, "203.0.113.9", "scanner")
	if err != nil || r.Result != lists.Added {
		t.Fatalf("add: %v %+v", err, r)
	}
	if got := f.read("denylist"); got != "203.0.113.9 scanner\n" {
		t.Errorf("denylist %q", got)
	}
	if got := f.daemon.asked(); !slices.Equal(got, []string{"reload lists"}) {
		t.Errorf("asked %v, want the lists reloaded", got)
	}
	if !strings.Contains(r.Text(), "in force in the running daemon") || !strings.Contains(r.Text(), "lifted the dynamic block of 192.0.2.66") {
		t.Errorf("text %q", r.Text())
	}
	// The same entry again changes nothing, so the daemon is not asked.
	if r, err := f.svc.Add(ctx, Deny, "203.0.113.9", ""); err != nil || r.Result != lists.Unchanged || r.Applied != nil {
		t.Errorf("again: %v %+v", err, r)
	}
	if n := len(f.daemon.asked()); n != 1 {
		t.Errorf("an unchanged list was reloaded: %v", f.daemon.asked())
	}
}

// A newly allowed address loses its dynamic block: with no daemon, the
// result names the blocks in force that the daemon lifts at its start.
func TestNewlyAllowedLoseTheirBlocks(t *testing.T) {
	f := newFixture(t, control.ErrNoDaemon)
	f.saveBlocks(block("192.0.2.66", now.Add(time.Hour)), block("192.0.2.67", now.Add(-time.Hour)), block("198.51.100.1", now.Add(time.Hour)))
	r, err := f.svc.Add(ctx, Allow, "192.0.2.0/24", "office")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Applied.NoDaemon || !slices.Equal(r.Applied.Pending, []netip.Addr{netip.MustParseAddr("192.0.2.66")}) {
		t.Errorf("applied %+v, want 192.0.2.66 pending (the other block expired, the third is outside)", r.Applied)
	}
	if !strings.Contains(r.Text(), "192.0.2.66 has a dynamic block in force: lifted when the daemon applies the allow list") {
		t.Errorf("text %q", r.Text())
	}
	f.write("allow.csv", "198.51.100.0/24,partner\n")
	in, _ := os.Open(f.path("allow.csv"))
	defer in.Close()
	ir, err := f.svc.Import(ctx, Allow, in, "allow.csv")
	if err != nil || !slices.Equal(ir.Applied.Pending, []netip.Addr{netip.MustParseAddr("198.51.100.1")}) {
		t.Errorf("import: %v %+v", err, ir)
	}
}

func TestAllowOverlappingDenyNoted(t *testing.T) {
	f := newFixture(t, nil)
	f.write("denylist", "203.0.113.0/24 scanners\n")
	r, err := f.svc.Add(ctx, Allow, "203.0.113.5", "partner")
	if err != nil || len(r.AlsoDenied) != 1 || !strings.Contains(r.Text(), "note: 203.0.113.5 overlaps the deny list") {
		t.Errorf("add: %v %+v", err, r)
	}
}

// An import is all or nothing: one bad row, or on the deny list one the
// allow list overlaps, and the list does not change.
func TestImportAllOrNothing(t *testing.T) {
	tests := []struct {
		name, kind, csv, want string
	}{
		{"bad row", "allow", "192.0.2.1,ok\n192.0.2.300,typo\n", "192.0.2.300"},
		{"deny overlaps allow", "deny", "203.0.113.0/24,scanners\n192.0.2.128/25,office part\n", "the allow list wins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			const allow, deny = "# office\n192.0.2.0/24 office\n", "# scanners\n198.51.100.66\n"
			f.write("allowlist", allow)
			f.write("denylist", deny)
			_, err := f.svc.Import(ctx, Kind(tt.kind), strings.NewReader(tt.csv), "rows.csv")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("import: %v, want an error naming %q", err, tt.want)
			}
			if f.read("allowlist") != allow || f.read("denylist") != deny {
				t.Errorf("a refused import changed a list: %q %q", f.read("allowlist"), f.read("denylist"))
			}
			if got := f.daemon.asked(); len(got) != 0 {
				t.Errorf("asked the daemon %v", got)
			}
		})
	}
}

// Remove is all or nothing too: an address not on the list as written
// removes nothing.
func TestRemoveAllOrNothing(t *testing.T) {
	f := newFixture(t, nil)
	const list = "# office\n192.0.2.0/24 office\n198.51.100.9 trunk\n"
	f.write("allowlist", list)
	if _, err := f.svc.Remove(ctx, Allow, []string{"198.51.100.9", "192.0.2.7"}); err == nil || !strings.Contains(err.Error(), "192.0.2.7 is not on it; it is inside 192.0.2.0/24") {
		t.Errorf("remove: %v", err)
	}
	if got := f.read("allowlist"); got != list {
		t.Errorf("a refused remove changed the list: %q", got)
	}
	if _, err := f.svc.Remove(ctx, Allow, []string{"198.51.100.9"}); err != nil || f.read("allowlist") != "# office\n192.0.2.0/24 office\n" {
		t.Errorf("remove: %v, list %q", err, f.read("allowlist"))
	}
}

func TestRemoveAllAsksFirst(t *testing.T) {
	f := newFixture(t, nil)
	const list = "# office\n192.0.2.0/24 office\n198.51.100.9 trunk\n"
	f.write("allowlist", list)
	var asked string
	no := func(q, _ string) (bool, error) { asked = q; return false, nil }
	if _, err := f.svc.RemoveAll(ctx, Allow, no); err == nil || f.read("allowlist") != list {
		t.Errorf("refused: %v, list %q", err, f.read("allowlist"))
	}
	if !strings.HasPrefix(asked, "Remove all 2 entries from the allow list") {
		t.Errorf("asked %q", asked)
	}
	r, err := f.svc.RemoveAll(ctx, Allow, nil)
	if err != nil || r.Count != 2 || f.read("allowlist") != "# office\n" {
		t.Errorf("remove all: %v %+v, list %q", err, r, f.read("allowlist"))
	}
}

func TestUnblock(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.svc.Unblock(ctx, []string{"198.51.100.1", "bad"}); err == nil || !strings.Contains(err.Error(), "nothing unblocked") {
		t.Errorf("a bad address: %v", err)
	}
	if got := f.daemon.asked(); len(got) != 0 {
		t.Errorf("a refused unblock asked the daemon %v", got)
	}
	if r, err := f.svc.Unblock(ctx, []string{"198.51.100.1"}); err != nil || !r.Live {
		t.Errorf("live: %v %+v", err, r)
	}

	// With no daemon the saved state is changed, as the daemon would.
	f = newFixture(t, control.ErrNoDaemon)
	f.saveBlocks(block("192.0.2.66", now.Add(time.Hour)), block("192.0.2.67", now.Add(time.Hour)))
	r, err := f.svc.Unblock(ctx, []string{"192.0.2.66"})
	if err != nil || r.Live || len(r.Results) != 1 || !r.Results[0].Lifted {
		t.Fatalf("saved: %v %+v", err, r)
	}
	saved, err := savedblocks.Load(f.path("state"))
	if err != nil || len(saved) != 1 || saved[0].Addr != netip.MustParseAddr("192.0.2.67") {
		t.Errorf("saved state %v %v, want only 192.0.2.67", saved, err)
	}
}

func TestRecipients(t *testing.T) {
	f := newFixture(t, nil)
	r, err := f.svc.AddRecipient(ctx, "Night Shift <night@example.com>")
	if err != nil || r.Addr != "night@example.com" || r.Count != 1 {
		t.Fatalf("add: %v %+v", err, r)
	}
	if !strings.Contains(f.read("sipprot.conf"), `recipients = ["night@example.com"]`) || !strings.HasPrefix(f.read("sipprot.conf"), "# ours\n") {
		t.Errorf("config:\n%s", f.read("sipprot.conf"))
	}
	if r, err := f.svc.AddRecipient(ctx, "NIGHT@example.com"); err != nil || !r.Already {
		t.Errorf("the same address in other case: %v %+v", err, r)
	}
	if _, err := f.svc.AddRecipient(ctx, "ops@example.com\r\nBcc: x@example.org"); err == nil {
		t.Errorf("a header injection was accepted")
	}
	f.svc.AddRecipient(ctx, "ops@example.com")
	if got := f.daemon.asked(); !slices.Equal(got, []string{"reload config", "reload config"}) {
		t.Errorf("asked %v, want a reload per change", got)
	}
	before := f.read("sipprot.conf")
	if _, err := f.svc.RemoveRecipients(ctx, []string{"ops@example.com", "nobody@example.com"}, nil); err == nil || f.read("sipprot.conf") != before {
		t.Errorf("one not a recipient: %v", err)
	}
	no := func(string, string) (bool, error) { return false, nil }
	if _, err := f.svc.RemoveRecipients(ctx, []string{"ops@example.com"}, no); err == nil || f.read("sipprot.conf") != before {
		t.Errorf("refused: %v", err)
	}
	rr, err := f.svc.RemoveRecipients(ctx, []string{"OPS@example.com"}, nil)
	if err != nil || !slices.Equal(rr.Removed, []string{"ops@example.com"}) || rr.Left != 1 {
		t.Errorf("remove: %v %+v", err, rr)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t, nil)
	f.write("allowlist", "192.0.2.0/24 office\n")
	f.write("denylist", "192.0.2.7\n203.0.113.0/24\n")
	f.daemon.blocks = []savedblocks.JSON{savedblocks.ToJSON(block("203.0.113.9", now.Add(time.Hour)))}
	for addr, want := range map[string]string{"192.0.2.7": "allow", "203.0.113.9": "deny", "198.51.100.1": "none"} {
		r, err := f.svc.Check(ctx, addr)
		if err != nil || r.Winner != want {
			t.Errorf("%s: %v, winner %+v, want %s", addr, err, r, want)
		}
	}
	if r, _ := f.svc.Check(ctx, "203.0.113.9"); r.Dynamic == nil || len(r.Notes) != 0 {
		t.Errorf("the live block is missing: %+v", r)
	}
	if _, err := f.svc.Check(ctx, "192.0.2.0/24"); err == nil {
		t.Errorf("a network was checked")
	}
}

func TestReport(t *testing.T) {
	f := newFixture(t, nil)
	r, err := f.svc.Report(ctx, "")
	if err != nil || r.Date != "2026-03-14" || r.Attacks != 99 || len(r.Notes) != 0 {
		t.Errorf("live, today: %v %+v", err, r)
	}
	if _, err := f.svc.Report(ctx, "14/03/2026"); err == nil {
		t.Errorf("a bad date was taken")
	}
	f = newFixture(t, control.ErrNoDaemon)
	r, err = f.svc.Report(ctx, "2026-03-13")
	if err != nil || r.Date != "2026-03-13" || r.Attacks != 0 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "reading the attack log files") {
		t.Errorf("from the files: %v %+v", err, r)
	}
}

// A refused value writes nothing and the daemon is not asked to reload.
func TestSetKeys(t *testing.T) {
	f := newFixture(t, nil)
	before := f.read("sipprot.conf")
	if _, err := f.svc.SetKeys(ctx, conf.Edit{Section: "sip", Key: "block_threshold", Value: 99}); err == nil || f.read("sipprot.conf") != before {
		t.Errorf("refused: %v\n%s", err, f.read("sipprot.conf"))
	}
	if got := f.daemon.asked(); len(got) != 0 {
		t.Errorf("a refused edit asked %v", got)
	}
	a, err := f.svc.SetKeys(ctx, conf.Edit{Section: "sip", Key: "block_threshold", Value: 3})
	if err != nil || !a.Live || !strings.Contains(f.read("sipprot.conf"), "block_threshold = 3") {
		t.Errorf("saved: %v %+v", err, a)
	}
	f.daemon.err = errors.New("bad config")
	if a, err := f.svc.SetKeys(ctx, conf.Edit{Section: "sip", Key: "block_threshold", Value: 4}); err != nil || a.Live || a.Err == nil {
		t.Errorf("daemon refused: %v %+v", err, a)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, nil)
	f.write("allowlist", "192.0.2.0/24\n")
	perm := block("198.51.100.1", time.Time{})
	perm.Permanent = true
	f.daemon.blocks = []savedblocks.JSON{savedblocks.ToJSON(perm), savedblocks.ToJSON(block("198.51.100.2", now.Add(time.Hour)))}
	st, err := f.svc.Status(ctx)
	if err != nil || len(st.Allow) != 1 || len(st.Permanent) != 1 || len(st.Temporary) != 1 || st.Daemon == nil || st.Daemon.PID != 7 {
		t.Errorf("live: %v %+v", err, st)
	}
	// With no daemon, the blocks in force of the state file.
	f = newFixture(t, control.ErrNoDaemon)
	f.saveBlocks(block("192.0.2.66", now.Add(time.Hour)), block("192.0.2.67", now.Add(-time.Hour)))
	st, err = f.svc.Status(ctx)
	if err != nil || len(st.Temporary) != 1 || st.Daemon != nil || st.DaemonRunning() {
		t.Errorf("from the files: %v %+v", err, st)
	}
}
