package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
	"github.com/sipprot/sipprot/savedblocks"
)

// fakeQueues feeds packets into the engine from the test, and records the
// order of the daemon's steps.
type fakeQueues struct {
	dead    atomic.Bool // Alive reports false: a wedged queue
	e       *policy.Engine
	steps   *steps
	pkts    chan *packet.Parsed
	results chan policy.Decision
}

func (q *fakeQueues) Open() error { q.steps.add("open"); return nil }
func (q *fakeQueues) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-q.pkts:
			q.results <- q.e.Decide(p)
		}
	}
}
func (q *fakeQueues) Alive() bool { return !q.dead.Load() }
func (q *fakeQueues) Health() []queue.QueueHealth {
	return []queue.QueueHealth{{Number: 0, Healthy: true}}
}

type fakeFirewall struct {
	steps *steps
	cfg   *conf.Config
}

func (f *fakeFirewall) Install() error {
	f.steps.add(fmt.Sprint("install ports=", f.cfg.SIP.Ports))
	return nil
}
func (f *fakeFirewall) Remove() error { f.steps.add("remove"); return nil }

type steps struct {
	mu sync.Mutex
	s  []string
}

func (s *steps) add(x string) { s.mu.Lock(); s.s = append(s.s, x); s.mu.Unlock() }
func (s *steps) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.s, ", ")
}

type harness struct {
	t      testing.TB
	dir    string
	cfg    string
	logs   *testutil.LogBuffer
	steps  *steps
	q      *fakeQueues
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, dir, config string, opt ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, cfg: filepath.Join(dir, "sipprot.conf"), logs: &testutil.LogBuffer{}, steps: &steps{},
		reload: make(chan struct{}), done: make(chan error, 1)}
	config = strings.ReplaceAll(config, "DIR", dir)
	if err := os.WriteFile(h.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	opts := Options{ConfigPath: h.cfg, MustExist: true, Stderr: h.logs, Reload: h.reload,
		NewQueues: func(c *conf.Config, e *policy.Engine, _ *slog.Logger) (Queues, error) {
			h.q = &fakeQueues{e: e, steps: h.steps, pkts: make(chan *packet.Parsed), results: make(chan policy.Decision)}
			return h.q, nil
		},
		NewFirewall: func(c *conf.Config) (Firewall, error) { return &fakeFirewall{steps: h.steps, cfg: c}, nil },
	}
	for _, o := range opt {
		o(&opts)
	}
	go func() { h.done <- Run(ctx, opts) }()
	h.waitLog("sipprot ready")
	return h
}

func (h *harness) waitLog(s string) {
	h.t.Helper()
	var ended bool
	var err error
	if !testutil.Poll(5*time.Second, func() bool {
		select {
		case err = <-h.done:
			ended = true
			return true
		default:
		}
		return h.logs.Contains(s)
	}) {
		h.t.Fatalf("no %q in logs:\n%s", s, h.logs)
	}
	if ended {
		h.t.Fatalf("daemon ended (%v) before logging %q:\n%s", err, s, h.logs)
	}
}

func (h *harness) send(src, ua string) policy.Decision {
	p := &packet.Parsed{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: 5060, DstPort: 5060,
		Proto: packet.UDP, Payload: []byte("OPTIONS sip:203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP " + src + ";branch=z9hG4bK1\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: " + ua + "\r\nContent-Length: 0\r\n\r\n")}
	h.q.pkts <- p
	return <-h.q.results
}

func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Fatal(err)
	}
}

const baseConfig = `
[state]
dir = "DIR/state"
[lists]
allow = "DIR/allow"
deny = "DIR/deny"
[log]
format = "json"
[admin]
socket = "DIR/sipprot.sock"
`

func TestRunStopSavesAndRestores(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, baseConfig)
	if d := h.send("198.51.100.66", "friendly-scanner"); d.Verdict != policy.Drop {
		t.Fatalf("scanner: %v", d)
	}
	h.waitLog(`"msg":"blocked","ip":"198.51.100.66","reason":"user_agent","user_agent":"friendly-scanner"`)
	st, err := ReadStatus(filepath.Join(dir, "state"))
	if err != nil || st == nil || !st.Running || len(st.Queues) != 1 {
		t.Fatalf("status while running = %+v, %v", st, err)
	}
	h.stop()
	if st, _ := ReadStatus(filepath.Join(dir, "state")); st == nil || st.Running {
		t.Fatalf("status after stop = %+v", st)
	}
	if got := h.steps.String(); got != "open, install ports=[5060], remove" {
		t.Fatalf("steps = %s", got)
	}
	saved, err := savedblocks.Load(filepath.Join(dir, "state"))
	if err != nil || len(saved) != 1 || saved[0].Addr != netip.MustParseAddr("198.51.100.66") || saved[0].UserAgent != "friendly-scanner" {
		t.Fatalf("saved blocks = %+v, %v", saved, err)
	}
	// The next run has the block in force before its first packet.
	h = start(t, dir, baseConfig)
	if d := h.send("198.51.100.66", "Yealink"); d.Verdict != policy.Drop || d.Reason != policy.ReasonDynamic {
		t.Fatalf("after restart: %v", d)
	}
	h.stop()
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, baseConfig)
	defer h.stop()
	write := func(text string) {
		if err := os.WriteFile(h.cfg, []byte(strings.ReplaceAll(text, "DIR", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		h.reload <- struct{}{}
	}
	// A bad config is refused whole; the running one stays.
	write(baseConfig + "[sip]\nblock_threshold = 99\n")
	h.waitLog("config reload refused")
	if d := h.send("198.51.100.1", "sipcli"); d.Reason != policy.ReasonUserAgent {
		t.Fatalf("old config lost: %v", d)
	}
	// A bad list line refuses the reload too.
	os.WriteFile(filepath.Join(dir, "deny"), []byte("198.51.100.2\nnot-an-address\n"), 0o600)
	write(baseConfig + "[sip]\nports = [\"5060\", \"5080\"]\n")
	h.waitLog("deny:2")
	if d := h.send("198.51.100.2", "Yealink"); d.Verdict != policy.Accept {
		t.Fatalf("half-applied list: %v", d)
	}
	// A good one applies: new rules, new User-Agents, new lists.
	os.WriteFile(filepath.Join(dir, "deny"), []byte("198.51.100.2 # bad neighbour\n"), 0o600)
	write(baseConfig + "[sip]\nports = [\"5060\", \"5080\"]\nblocked_user_agents = [\"zoiper\"]\n")
	h.waitLog("config reloaded")
	if d := h.send("198.51.100.3", "sipcli"); d.Verdict != policy.Accept {
		t.Fatalf("new config not applied: %v", d)
	}
	if d := h.send("198.51.100.2", "Yealink"); d.Reason != policy.ReasonDeny {
		t.Fatalf("new deny list not applied: %v", d)
	}
	if got := h.steps.String(); !strings.Contains(got, "install ports=[5060 5080]") {
		t.Fatalf("rules not reinstalled: %s", got)
	}
}

func TestCorruptStateIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "state"), 0o700)
	torn := []byte(`{"version":1,"blocks":[{"ip":"198.51.100.9","reason":"fail`)
	os.WriteFile(filepath.Join(dir, "state", savedblocks.File), torn, 0o600)
	os.WriteFile(filepath.Join(dir, "allow"), []byte("192.0.2.0/24 office\n"), 0o600)
	h := start(t, dir, baseConfig)
	h.waitLog("saved blocks unreadable: moved aside")
	// The lists are untouched and in force; the torn file is kept intact.
	if d := h.send("192.0.2.7", "sipcli"); d.Reason != policy.ReasonAllow {
		t.Fatalf("allow list after a corrupt state file: %v", d)
	}
	if d := h.send("198.51.100.66", "sipcli"); d.Reason != policy.ReasonUserAgent {
		t.Fatalf("rules after a corrupt state file: %v", d)
	}
	h.stop()
	aside, _ := filepath.Glob(filepath.Join(dir, "state", savedblocks.File+".corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, torn) {
		t.Fatalf("the corrupt file was changed: %q", got)
	}
	if allow, _ := os.ReadFile(filepath.Join(dir, "allow")); string(allow) != "192.0.2.0/24 office\n" {
		t.Fatalf("allow list touched: %q", allow)
	}
	// The new state file is whole again.
	if saved, err := savedblocks.Load(filepath.Join(dir, "state")); err != nil || len(saved) != 1 {
		t.Fatalf("state after the restart: %v, %v", saved, err)
	}
}

func TestListEditsApplyWithoutReload(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, baseConfig)
	defer h.stop()
	if d := h.send("198.51.100.66", "sipcli"); d.Reason != policy.ReasonUserAgent {
		t.Fatalf("scanner: %v", d)
	}
	os.WriteFile(filepath.Join(dir, "deny"), []byte("198.51.100.5 # edited by hand\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "allow"), []byte("198.51.100.66 # our own test box after all\n"), 0o600)
	var d5, d66 policy.Decision
	if !testutil.Poll(5*time.Second, func() bool {
		d5, d66 = h.send("198.51.100.5", "Yealink"), h.send("198.51.100.66", "sipcli")
		return d5.Reason == policy.ReasonDeny && d66.Reason == policy.ReasonAllow
	}) {
		t.Fatalf("list edits not in force: %v %v\n%s", d5, d66, h.logs)
	}
	h.waitLog("allow list lifts a dynamic block")
}

func TestFreshHostListsDirectory(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, strings.ReplaceAll(baseConfig, "DIR/allow", "DIR/etc/sipprot/allowlist"))
	defer h.stop()
	if _, err := os.Stat(filepath.Join(dir, "etc", "sipprot")); err != nil {
		t.Fatalf("lists' directory not created: %v", err)
	}
	if strings.Contains(h.logs.String(), "not watched") {
		t.Fatalf("list watch failed:\n%s", h.logs)
	}
}

// TestSystemdNotify: READY=1 once serving, WATCHDOG=1 while the queues are
// alive and none once one wedges, so systemd restarts a wedged daemon.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "150000") // pings every 50 ms
	h := start(t, dir, baseConfig)
	defer h.stop()
	read := func(window time.Duration) map[string]int {
		seen := map[string]int{}
		buf := make([]byte, 512)
		deadline := time.Now().Add(window)
		for time.Now().Before(deadline) {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			seen[strings.TrimSpace(string(buf[:n]))]++
		}
		return seen
	}
	if seen := read(400 * time.Millisecond); seen["READY=1"] != 1 || seen["WATCHDOG=1"] < 2 {
		t.Fatalf("notifications while alive: %v", seen)
	}
	h.q.dead.Store(true)
	read(100 * time.Millisecond) // a ping already on its way
	if seen := read(400 * time.Millisecond); seen["WATCHDOG=1"] != 0 {
		t.Fatalf("watchdog fed by a wedged daemon: %v", seen)
	}
}

// A reload that changes [geoip] puts the new database in force at once.
func TestReloadGeoIP(t *testing.T) {
	dir := t.TempDir()
	geoiptest.Write(t, filepath.Join(dir, "kp.mmdb"), geoiptest.DB{Networks: geoiptest.Nets("198.51.100.0/24=KP", "192.0.2.0/24=FR")})
	base := baseConfig + "[sip]\nblocked_countries = [\"KP\"]\n"
	h := start(t, dir, base+"[geoip]\ndatabase = \"DIR/absent.mmdb\"\n")
	defer h.stop()
	h.waitLog("no usable GeoIP database")
	if d := h.send("198.51.100.3", "Yealink"); d.Verdict != policy.Accept {
		t.Fatalf("without a database: %v", d)
	}
	os.WriteFile(h.cfg, []byte(strings.ReplaceAll(base+"[geoip]\ndatabase = \"DIR/kp.mmdb\"\n", "DIR", dir)), 0o600)
	h.reload <- struct{}{}
	h.waitLog("geoip settings applied")
	if d := h.send("198.51.100.3", "Yealink"); d.Reason != policy.ReasonCountry {
		t.Fatalf("after the reload: %v", d)
	}
	if d := h.send("192.0.2.3", "Yealink"); d.Verdict != policy.Accept {
		t.Fatalf("an allowed country after the reload: %v", d)
	}
}

// TestFailedServiceInStatus: a control socket that cannot be served is
// logged and named in the status, and protection goes on.
func TestFailedServiceInStatus(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, dir, strings.Replace(baseConfig, "DIR/sipprot.sock", "DIR/file/sipprot.sock", 1))
	defer h.stop()
	st, err := ReadStatus(filepath.Join(dir, "state"))
	if err != nil || st == nil {
		t.Fatalf("status: %v, %v", st, err)
	}
	if why := st.Failed["control"]; !strings.Contains(why, "not a directory") {
		t.Errorf("status failed = %v, want the control socket and why", st.Failed)
	}
	if len(st.Failed) != 1 {
		t.Errorf("status failed = %v, want only the control socket", st.Failed)
	}
	if d := h.send("198.51.100.66", "friendly-scanner"); d.Verdict != policy.Drop {
		t.Errorf("scanner: %v", d)
	}
}
