//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/fleet/lapitest"
	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// fleetAttacker is the scanner's address at every site: the same source
// attacks the three PBXes.
var fleetAttacker = netip.MustParseAddr("203.0.113.66")

// fleetFailures is failures_per_minute at every site.
const fleetFailures = 5

// fleetSite is one PBX site: Kamailio and sipprot in pbx, attackers in atk.
type fleetSite struct {
	name     string
	pbx, atk netnstest.NS
	kam      *kamailio
	cfg      string
	key      string // its bouncer key
	d        *daemon
	starts   int
	w        *world // its attackers' logs
}

// start starts (or starts again) the site's daemon, each run logging to a
// file of its own so "sipprot ready" is this run's.
func (s *fleetSite) start(t *testing.T, dir string) {
	t.Helper()
	s.starts++
	s.d = startDaemon(t, s.pbx, s.cfg, filepath.Join(dir, fmt.Sprintf("sipprot-%s-%d.log", s.name, s.starts)))
}

// winner is `sipprot check IP --json`'s winning rule on the site.
func (s *fleetSite) winner(t *testing.T, ip string) string {
	t.Helper()
	var r struct {
		Winner string `json:"winner"`
	}
	out := cli(t, s.pbx, s.cfg, "check", ip, "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("check on %s: %v\n%s", s.name, err, out)
	}
	return r.Winner
}

// fleetStatus is the part of `status --json` the fleet test reads.
type fleetStatus struct {
	Daemon struct {
		Dropped map[string]int64 `json:"dropped_by_reason"`
		Fleet   struct {
			Enforced      int  `json:"enforced"`
			Outbox        int  `json:"outbox"`
			PushConnected bool `json:"push_connected"`
			PullConnected bool `json:"pull_connected"`
		} `json:"fleet"`
	} `json:"daemon"`
}

func (s *fleetSite) status(t *testing.T) fleetStatus {
	t.Helper()
	var st fleetStatus
	out := cli(t, s.pbx, s.cfg, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status on %s: %v\n%s", s.name, err, out)
	}
	return st
}

// rss is the daemon's resident set in kB, from /proc/PID/status.
func (s *fleetSite) rss(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.d.p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", s.d.p.cmd.Process.Pid)
	return 0
}

// logSince returns the daemon's log lines with message msg logged at or
// after t0.
func (s *fleetSite) logSince(t *testing.T, t0 time.Time, msg string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range s.d.lines(t) {
		if l.msg() == msg && !l.time().Before(t0) {
			out = append(out, l)
		}
	}
	return out
}

// untilAll polls cond on each site at once and returns when each first
// held, measured from t0; a site where it never held within timeout gets
// a negative duration.
func untilAll(t *testing.T, sites []*fleetSite, t0 time.Time, timeout time.Duration, cond func(*fleetSite) bool) []time.Duration {
	t.Helper()
	out := make([]time.Duration, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Go(func() {
			if testutil.Poll(timeout, func() bool { return cond(s) }) {
				out[i] = time.Since(t0)
			} else {
				out[i] = -1
			}
		})
	}
	wg.Wait()
	return out
}

// quantile is the q-quantile (nearest rank) of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestFleetThreeHosts: three sites, each a PBX namespace with Kamailio and
// its own sipprot, its attackers on the PBX's segment, and a management
// bridge to one real CrowdSec LAPI in a namespace of its own, reached
// through a reverse proxy that can garble its answers:
//
//	atk-a 203.0.113.66 -- pbx-a 203.0.113.10 --+
//	atk-b 203.0.113.66 -- pbx-b 203.0.113.10 --+-- br0 lapi 192.0.2.5:8080 (proxy)
//	atk-c 203.0.113.66 -- pbx-c 203.0.113.10 --+       192.0.2.5:8081 (LAPI)
//	                                                   (pbx 192.0.2.11-.13)
//
// The drills share this one world, in order; see e2e/README.md.
func TestFleetThreeHosts(t *testing.T) {
	requireDaemon(t)
	if _, _, ok := lapitest.Find(); !ok {
		t.Skip("crowdsec not found (run .ci/crowdsec.sh): fleet end-to-end test skipped")
	}
	dir := logDir(t)
	lapiNS := newNetns(t, nsPrefix+"fl-lapi")
	var sites []*fleetSite
	var ports []string
	for i, name := range []string{"a", "b", "c"} {
		s := &fleetSite{name: name, pbx: newNetns(t, nsPrefix+"fl-pbx-"+name), atk: newNetns(t, nsPrefix+"fl-atk-"+name),
			w: &world{dir: filepath.Join(dir, "atk-"+name)}}
		if err := os.MkdirAll(s.w.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		netnstest.Link(t, s.atk, "eth0", s.pbx, "eth-atk")
		s.pbx.Addr(t, "eth-atk", pbx4.String()+"/24", pbx6.String()+"/64")
		s.atk.Addr(t, "eth0", fleetAttacker.String()+"/24")
		netnstest.Link(t, lapiNS, "eth-"+name, s.pbx, "eth-mgmt")
		s.pbx.Addr(t, "eth-mgmt", fmt.Sprintf("192.0.2.%d/24", 11+i))
		ports = append(ports, "eth-"+name)
		s.kam = startKamailio(t, s.pbx, filepath.Join(dir, "kamailio-"+name+".log"), filepath.Join(dir, "kamailio-run-"+name))
		sites = append(sites, s)
	}
	lapiNS.Bridge(t, "br0", ports...)
	lapiNS.Addr(t, "br0", "192.0.2.5/24")
	lapiAddr := netip.MustParseAddrPort("192.0.2.5:8081")
	l := lapitest.NewWith(t, lapitest.Options{Wrap: []string{"ip", "netns", "exec", string(lapiNS)}, Host: "192.0.2.5", Port: 8081,
		Ready: func() bool { return lapiNS.Listening("tcp", lapiAddr) }})
	proxy := startLAPIProxy(t, lapiNS, netip.MustParseAddrPort("192.0.2.5:8080"), lapiAddr)
	for i, s := range sites {
		pw := "pbx-" + s.name + "-password-0123456789"
		s.key = "pbx-" + s.name + "-bouncer-0123456789"
		l.AddMachine("pbx-"+s.name, pw)
		l.AddBouncer("pbx-"+s.name, s.key)
		state := filepath.Join(dir, "state-"+s.name)
		os.MkdirAll(state, 0o755)
		os.WriteFile(filepath.Join(dir, s.name+".pass"), []byte(pw), 0o600)
		os.WriteFile(filepath.Join(dir, s.name+".key"), []byte(s.key), 0o600)
		s.cfg = daemonConfig{mode: "local", failures: fleetFailures, blockTime: 10 * time.Minute, threshold: 3, queueNumber: 40 + i, queueCount: 1,
			tftpPerMinute: 20, tftpBurst: 40, stateDir: state, extra: fmt.Sprintf(`
[fleet]
lapi_url = "http://192.0.2.5:8080"
machine_id = "pbx-%s"
password_file = %q
api_key_file = %q
poll_every = "1s"
resync_every = "15s"
`, s.name, filepath.Join(dir, s.name+".pass"), filepath.Join(dir, s.name+".key"))}.write(t, dir, "sipprot-"+s.name)
	}
	l.Start()
	for _, s := range sites {
		s.start(t, dir)
		defer func() { s.d.stop(t) }()
	}
	f := &fleetWorld{t: t, dir: dir, l: l, proxy: proxy, sites: sites}
	f.sharing()
	if t.Failed() {
		return
	}
	f.outageAndRestart()
	f.lapiRestartAndPropagation()
	f.bulk()
	f.malformed()
	f.cutOff()
}

// fleetWorld is the three-site world the fleet drills share.
type fleetWorld struct {
	t     *testing.T
	dir   string
	l     *lapitest.LAPI
	proxy *lapiProxy
	sites []*fleetSite
}

// sharing: svmap blocked on A reaches B and C 0 times once the block has
// propagated; cscli lists sipprot's alert; `sipprot unblock` on A lifts
// it on B and C; a cscli decision is enforced by all three.
func (f *fleetWorld) sharing() {
	t, l := f.t, f.l
	a, b, c := f.sites[0], f.sites[1], f.sites[2]
	t0 := time.Now()
	sv := startSV(t, a.w, a.atk, "svmap", fleetAttacker, pbx4.String())
	if err := sv.wait(60 * time.Second); err != nil {
		t.Logf("svmap on A: %v", err)
	}
	if _, ok := a.d.waitBlock(t, fleetAttacker, 10*time.Second); !ok {
		t.Fatalf("A did not block svmap; its log:\n%s", tail(a.d.log, 20))
	}
	for _, s := range []*fleetSite{b, c} {
		if !testutil.Poll(15*time.Second, func() bool { return s.winner(t, fleetAttacker.String()) == "fleet" }) {
			t.Fatalf("%s does not enforce A's block; its log:\n%s", s.name, tail(s.d.log, 20))
		}
	}
	t.Logf("A's block of %s enforced on B and C %v after svmap started", fleetAttacker, time.Since(t0).Round(time.Millisecond))
	if w := a.winner(t, fleetAttacker.String()); w != "dynamic" {
		t.Errorf("on A the scanner is its own dynamic block, winner %q", w)
	}

	// svmap against B and C now: nothing reaches their Kamailio.
	before := map[string]int{}
	for _, s := range []*fleetSite{b, c} {
		before[s.name] = len(s.kam.traffic(t).from(fleetAttacker).reqs)
		sv := startSV(t, s.w, s.atk, "svmap", fleetAttacker, pbx4.String())
		sv.wait(60 * time.Second)
	}
	for _, s := range []*fleetSite{b, c} {
		if n := len(s.kam.traffic(t).from(fleetAttacker).reqs) - before[s.name]; n != 0 {
			t.Errorf("%d svmap requests reached %s's Kamailio after A's block propagated", n, s.name)
		}
		if st := s.status(t); st.Daemon.Dropped["fleet"] == 0 {
			t.Errorf("%s counts no fleet drop: %v", s.name, st.Daemon.Dropped)
		}
	}
	if out := string(l.Cscli("alerts", "list", "-a", "-o", "json")); !strings.Contains(out, "sipprot/user_agent") || !strings.Contains(out, fleetAttacker.String()) {
		t.Errorf("cscli alerts list lacks sipprot's alert:\n%s", out)
	}
	if !slices.ContainsFunc(l.Decisions(), func(al lapitest.Alert) bool { return al.Scenario == "sipprot/user_agent" }) {
		t.Error("cscli decisions list lacks sipprot's decision")
	}

	// Unblocked on A, lifted everywhere.
	cli(t, a.pbx, a.cfg, "unblock", fleetAttacker.String())
	for _, s := range []*fleetSite{b, c} {
		if !testutil.Poll(15*time.Second, func() bool { return s.winner(t, fleetAttacker.String()) != "fleet" }) {
			t.Errorf("%s still enforces the block A lifted", s.name)
		}
	}

	// A decision made with cscli is enforced by every sipprot.
	l.Cscli("decisions", "add", "-i", fleetCscliIP.String())
	for _, s := range f.sites {
		if !testutil.Poll(15*time.Second, func() bool { return s.winner(t, fleetCscliIP.String()) == "fleet" }) {
			t.Errorf("%s does not enforce the cscli decision", s.name)
		}
	}
	if out := cli(t, b.pbx, b.cfg, "status"); !strings.Contains(out, "fleet: connected to http://192.0.2.5:8080") {
		t.Errorf("status on B lacks the fleet line:\n%s", out)
	}
}

// fleetCscliIP is the address banned with cscli in sharing; the restart
// drill deletes it while B is down.
var fleetCscliIP = netip.MustParseAddr("203.0.113.77")

// fleetOutage is how long the LAPI is stopped (issue 13: 60 s).
const fleetOutage = 60 * time.Second

// outageAndRestart: the LAPI stopped for fleetOutage while A is attacked
// by svmap and by the sipp password guesser. A protects itself exactly as
// alone (failures_per_minute failures reach its Kamailio, not one more)
// and keeps both blocks in its outbox; B and C enforce them once the LAPI
// is back. Meanwhile B is restarted: its fleet decisions were saved at
// its stop, one of them is deleted at the LAPI while B is down, and B
// comes back while the LAPI is still down, so every pull fails and what it
// enforces comes from fleet.json alone; once the LAPI is back, its resync
// lifts the deleted one.
func (f *fleetWorld) outageAndRestart() {
	t, l := f.t, f.l
	a, b, c := f.sites[0], f.sites[1], f.sites[2]
	scanner := netip.MustParseAddr("203.0.113.67")
	guesser := netip.MustParseAddr("203.0.113.70")
	a.atk.Addr(t, "eth0", scanner.String()+"/24", guesser.String()+"/24")
	for _, s := range []*fleetSite{b, c} {
		s.atk.Addr(t, "eth0", guesser.String()+"/24")
	}
	b.atk.Addr(t, "eth0", fleetCscliIP.String()+"/24")

	b.d.stop(t)
	saved, err := os.ReadFile(filepath.Join(f.dir, "state-b", "fleet.json"))
	if err != nil || !strings.Contains(string(saved), fleetCscliIP.String()) {
		t.Errorf("B's fleet.json lacks the cscli decision it enforced (%v):\n%s", err, saved)
	}
	l.Cscli("decisions", "delete", "-i", fleetCscliIP.String())
	l.Stop()
	down := time.Now()
	b.start(t, f.dir)
	if w := b.winner(t, fleetCscliIP.String()); w != "fleet" {
		t.Errorf("B restarted with the LAPI down: %s's winner is %q, want the saved fleet decision", fleetCscliIP, w)
	}
	kb := len(b.kam.traffic(t).from(fleetCscliIP).reqs)
	if newSIPClient(t, b.atk, fleetCscliIP, ordinaryUA).reaches(3, 300*time.Millisecond) {
		t.Errorf("B restarted with the LAPI down answered %s, which it held blocked", fleetCscliIP)
	}
	if n := len(b.kam.traffic(t).from(fleetCscliIP).reqs) - kb; n != 0 {
		t.Errorf("%d requests from %s reached B's Kamailio before B's first pull", n, fleetCscliIP)
	}
	if st := b.status(t); st.Daemon.Fleet.PullConnected {
		t.Errorf("B pulled with the LAPI down?")
	}

	// A attacked meanwhile: the guesser at 2 calls/s (each failure's reply
	// is back long before the next attempt: none in flight) and svmap.
	g := startGuess(t, a.w, a.atk, guessRun{src: guesser, rate: 2, calls: 16, limit: 12 * time.Second})
	sv := startSV(t, a.w, a.atk, "svmap", scanner, pbx4.String())
	sv.wait(60 * time.Second)
	g.wait(30 * time.Second)
	for ip, reason := range map[netip.Addr]string{guesser: "failures", scanner: "user_agent"} {
		if bl, ok := a.d.waitBlock(t, ip, 10*time.Second); !ok || bl.Reason != reason {
			t.Errorf("A with the LAPI down: block of %s = %+v (found %v), want reason %s; its log:\n%s", ip, bl, ok, reason, tail(a.d.log, 20))
		}
	}
	tr := a.kam.traffic(t)
	if n := len(tr.from(guesser).failures()); n != fleetFailures {
		t.Errorf("with the LAPI down, %d failed attempts of the guesser reached A's Kamailio, want exactly %d", n, fleetFailures)
	} else {
		t.Logf("with the LAPI down, the guesser got exactly %d failed attempts through to A's Kamailio", n)
	}
	if n := len(tr.from(scanner).reqs); n != 0 {
		t.Errorf("with the LAPI down, %d svmap requests reached A's Kamailio", n)
	}
	if !testutil.Poll(15*time.Second, func() bool { return a.status(t).Daemon.Fleet.Outbox == 2 }) {
		t.Errorf("A's two blocks are not waiting in its outbox: %+v", a.status(t).Daemon.Fleet)
	}
	if w := b.winner(t, guesser.String()); w == "fleet" {
		t.Errorf("B enforces the guesser's block with the LAPI down?")
	}

	time.Sleep(fleetOutage - time.Since(down))
	l.Start()
	back := time.Now()
	t.Logf("LAPI stopped for %v", back.Sub(down).Round(time.Second))
	got := untilAll(t, []*fleetSite{b, c}, back, 30*time.Second, func(s *fleetSite) bool {
		return s.winner(t, guesser.String()) == "fleet" && s.winner(t, scanner.String()) == "fleet"
	})
	lifted := untilAll(t, []*fleetSite{b}, back, 30*time.Second, func(s *fleetSite) bool { return s.winner(t, fleetCscliIP.String()) != "fleet" })
	for i, s := range []*fleetSite{b, c} {
		if got[i] < 0 {
			t.Errorf("%s never got the blocks A made while the LAPI was down", s.name)
		}
	}
	if lifted[0] < 0 {
		t.Errorf("B restarted never lifted %s, deleted at the LAPI while it was down", fleetCscliIP)
	}
	t.Logf("after the %v outage: both blocks A made meanwhile enforced on B %v and C %v after the LAPI came back; B lifted the decision deleted while it was down %v after",
		fleetOutage, got[0].Round(time.Millisecond), got[1].Round(time.Millisecond), lifted[0].Round(time.Millisecond))

	// The sipp guesser blocked on A, against B and C now: 0 requests arrive.
	before := map[string]int{}
	var gs []*proc
	for _, s := range []*fleetSite{b, c} {
		before[s.name] = len(s.kam.traffic(t).from(guesser).reqs)
		gs = append(gs, startGuess(t, s.w, s.atk, guessRun{src: guesser, rate: 10, calls: 20, limit: 6 * time.Second}))
	}
	for _, g := range gs {
		g.wait(30 * time.Second)
	}
	for _, s := range []*fleetSite{b, c} {
		if n := len(s.kam.traffic(t).from(guesser).reqs) - before[s.name]; n != 0 {
			t.Errorf("%d requests of the sipp guesser blocked on A reached %s's Kamailio", n, s.name)
		}
	}
}

// lapiRestartAndPropagation: the LAPI restarted (a new JWT secret: A's
// token is refused once and A logs in again; the bouncers' streams start
// over), then 20 blocks made on A one after the other, each a
// friendly-scanner OPTIONS from a new address, and the time from that
// packet until `sipprot check` on B and on C names a fleet decision:
// p50 and p99 over the 40 figures (goal p99 <= 1.5 s at poll_every = 1s;
// the test fails only past 5 s).
func (f *fleetWorld) lapiRestartAndPropagation() {
	t, l := f.t, f.l
	a, b, c := f.sites[0], f.sites[1], f.sites[2]
	restart := time.Now()
	l.Stop()
	l.Start()
	t.Logf("LAPI restarted in %v", time.Since(restart).Round(time.Millisecond))
	for _, s := range f.sites {
		if !testutil.Poll(30*time.Second, func() bool { return s.status(t).Daemon.Fleet.PullConnected }) {
			t.Errorf("%s does not pull again after the LAPI restart", s.name)
		}
	}
	var all []time.Duration
	for i := range 20 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)})
		a.atk.Addr(t, "eth0", ip.String()+"/24")
		probe := newSIPClient(t, a.atk, ip, "friendly-scanner")
		t0 := time.Now()
		probe.send()
		ds := untilAll(t, []*fleetSite{b, c}, t0, 15*time.Second, func(s *fleetSite) bool { return s.winner(t, ip.String()) == "fleet" })
		for j, d := range ds {
			if d < 0 {
				t.Errorf("block %d (%s) made on A never reached %s", i+1, ip, []string{"B", "C"}[j])
				continue
			}
			all = append(all, d)
		}
	}
	if n := len(a.logSince(t, restart, "LAPI token refused, logging in again")); n == 0 {
		t.Errorf("A never logged in again after the LAPI restart")
	}
	if len(all) == 0 {
		return
	}
	p50, p99 := quantile(all, 0.5), quantile(all, 0.99)
	t.Logf("propagation A -> B, C over 20 blocks (%d figures) at poll_every = 1s: p50 %v, p99 %v, max %v",
		len(all), p50.Round(time.Millisecond), p99.Round(time.Millisecond), quantile(all, 1).Round(time.Millisecond))
	if p99 > 5*time.Second {
		t.Errorf("propagation p99 %v, far past the 1.5 s goal", p99)
	}
}

// bulk: 100,000 decisions imported with cscli (IPv6 addresses on the
// PBXes' own /64, so a sample can be sent from): every daemon takes them
// all; their RSS before and after; the time from the import's start
// until each enforces the whole set; a sampled address is dropped with
// reason fleet on every host.
func (f *fleetWorld) bulk() {
	t, l := f.t, f.l
	const n = 100_000
	addr := func(i int) netip.Addr {
		return netip.MustParseAddr(fmt.Sprintf("2001:db8:0:113:1:0:%x:%x", i>>16, i&0xffff))
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = addr(i + 1).String()
	}
	// In chunks, each retried: the LAPI's SQLite answers "database is
	// locked" now and then to a large insert while three bouncers pull
	// every second. A retried chunk may repeat decisions already stored;
	// the daemons count addresses, so repeats do not inflate the figure.
	const chunks = 5
	var files []string
	for k := range chunks {
		file := filepath.Join(f.dir, fmt.Sprintf("bulk-100k-%d.json", k+1))
		files = append(files, lapitest.ImportFile(t, file, "4h", addrs[k*n/chunks:(k+1)*n/chunks]))
	}
	base := map[string]int{}
	rss := map[string]int{}
	for _, s := range f.sites {
		base[s.name], rss[s.name] = s.status(t).Daemon.Fleet.Enforced, s.rss(t)
	}
	t0 := time.Now()
	retries := 0
	for _, file := range files {
		for try := 1; ; try++ {
			_, err := l.TryCscli("decisions", "import", "-i", file)
			if err == nil {
				break
			}
			if try == 5 || !strings.Contains(err.Error(), "database is locked") {
				t.Fatal(err)
			}
			retries++
		}
	}
	imported := time.Since(t0)
	t.Logf("cscli decisions import: %d files of %d, %d retries after \"database is locked\"", chunks, n/chunks, retries)
	ds := untilAll(t, f.sites, t0, 90*time.Second, func(s *fleetSite) bool { return s.status(t).Daemon.Fleet.Enforced >= base[s.name]+n })
	for i, s := range f.sites {
		if ds[i] < 0 {
			t.Errorf("%s does not enforce the 100,000 decisions: %+v", s.name, s.status(t).Daemon.Fleet)
			continue
		}
		after := s.rss(t)
		t.Logf("100,000 decisions on %s: in force %v after the import started (cscli import took %v); RSS %d kB before, %d kB after (+%d kB, %.0f B a decision)",
			s.name, ds[i].Round(time.Millisecond), imported.Round(time.Millisecond), rss[s.name], after, after-rss[s.name], float64(after-rss[s.name])*1024/n)
		if after-rss[s.name] > 200*1024 {
			t.Errorf("%s grew %d kB for 100,000 decisions: not bounded as designed (about 250 B a decision)", s.name, after-rss[s.name])
		}
	}
	sample := addr(1 + int(time.Now().UnixNano()%n))
	for _, s := range f.sites {
		if w := s.winner(t, sample.String()); w != "fleet" {
			t.Errorf("%s: sampled %s winner %q, want fleet", s.name, sample, w)
		}
		s.atk.Addr(t, "eth0", sample.String()+"/64")
		dropped := s.status(t).Daemon.Dropped["fleet"]
		if newSIPClient(t, s.atk, sample, ordinaryUA).reaches(2, 300*time.Millisecond) {
			t.Errorf("%s answered the sampled %s", s.name, sample)
		}
		if n := len(s.kam.traffic(t).from(sample).reqs); n != 0 {
			t.Errorf("%d requests from the sampled %s reached %s's Kamailio", n, sample, s.name)
		}
		if d := s.status(t).Daemon.Dropped["fleet"] - dropped; d < 2 {
			t.Errorf("%s dropped %d packets from the sampled %s with reason fleet, want 2", s.name, d, sample)
		}
	}
	t.Logf("sampled %s dropped with reason fleet on A, B and C", sample)
}

// malformed: the proxy garbles the decision stream answers (truncated
// JSON, wrong types, an HTML error page), each bouncer getting each kind.
// Every daemon logs a line naming the malformed answer and keeps its last
// good set (the 100,000 included); once the garbling stops, a new
// decision reaches them all.
func (f *fleetWorld) malformed() {
	t, l := f.t, f.l
	enforced := map[string]int{}
	for _, s := range f.sites {
		enforced[s.name] = s.status(t).Daemon.Fleet.Enforced
	}
	t0 := time.Now()
	f.proxy.garble(true)
	if !testutil.Poll(60*time.Second, func() bool {
		for _, s := range f.sites {
			if f.proxy.servedTo(s.key) < len(garbles) {
				return false
			}
		}
		return true
	}) {
		t.Errorf("the bouncers did not all get the %d malformed answers", len(garbles))
	}
	// Still garbling: whatever the daemons hold is their last good set.
	for _, s := range f.sites {
		if e := s.status(t).Daemon.Fleet.Enforced; e != enforced[s.name] {
			t.Errorf("%s enforces %d decisions after malformed answers, had %d", s.name, e, enforced[s.name])
		}
		if w := s.winner(t, garbledIP.String()); w == "fleet" {
			t.Errorf("%s: a garbled answer's address became a block", s.name)
		}
	}
	f.proxy.garble(false)
	for _, s := range f.sites {
		var errs []string
		for _, ln := range s.logSince(t, t0, "LAPI pull failed, last good decisions kept") {
			if e := ln.str("err"); strings.Contains(e, "malformed LAPI answer") {
				errs = append(errs, e)
			}
		}
		if len(errs) < len(garbles) {
			t.Errorf("%s logged %d malformed-answer lines, want at least %d; its log:\n%s", s.name, len(errs), len(garbles), tail(s.d.log, 20))
			continue
		}
		t.Logf("%s on malformed answers logged, e.g.:\n  %s", s.name, strings.Join(errs[:len(garbles)], "\n  "))
	}
	recovered := netip.MustParseAddr("203.0.113.78")
	l.Cscli("decisions", "add", "-i", recovered.String())
	ds := untilAll(t, f.sites, time.Now(), 30*time.Second, func(s *fleetSite) bool { return s.winner(t, recovered.String()) == "fleet" })
	for i, s := range f.sites {
		if ds[i] < 0 {
			t.Errorf("%s does not enforce a decision made after the malformed answers", s.name)
		}
	}
}

// cutOff: C cut off from the LAPI (its packets to it silently dropped, so
// calls hang until their timeouts) while A blocks a third scanner and C
// is attacked itself: C protects itself alone, then gets A's block once
// healed, and B gets C's.
func (f *fleetWorld) cutOff() {
	t := f.t
	a, b, c := f.sites[0], f.sites[1], f.sites[2]
	third, fourth := netip.MustParseAddr("203.0.113.68"), netip.MustParseAddr("203.0.113.69")
	a.atk.Addr(t, "eth0", third.String()+"/24")
	c.atk.Addr(t, "eth0", fourth.String()+"/24")
	c.pbx.Run(t, "nft", "add table inet sp_cut")
	c.pbx.Run(t, "nft", "add chain inet sp_cut out { type filter hook output priority 0; }")
	c.pbx.Run(t, "nft", "add rule inet sp_cut out ip daddr 192.0.2.5 drop")
	sv := startSV(t, a.w, a.atk, "svmap", third, pbx4.String())
	sv.wait(60 * time.Second)
	if !testutil.Poll(15*time.Second, func() bool { return b.winner(t, third.String()) == "fleet" }) {
		t.Errorf("B did not get A's block while C was cut off")
	}
	sv = startSV(t, c.w, c.atk, "svmap", fourth, pbx4.String())
	sv.wait(60 * time.Second)
	if _, ok := c.d.waitBlock(t, fourth, 10*time.Second); !ok {
		t.Errorf("C cut off from the LAPI did not block its own scanner")
	}
	if w := c.winner(t, third.String()); w == "fleet" {
		t.Errorf("C cut off got A's block anyway")
	}
	c.pbx.Run(t, "nft", "delete table inet sp_cut")
	healed := time.Now()
	if !testutil.Poll(30*time.Second, func() bool { return c.winner(t, third.String()) == "fleet" }) {
		t.Errorf("C healed never got the block A made while it was cut off")
	}
	if !testutil.Poll(30*time.Second, func() bool { return b.winner(t, fourth.String()) == "fleet" }) {
		t.Errorf("B never got the block C made while cut off")
	}
	t.Logf("after the cut healed: C enforces A's block and B enforces C's within %v", time.Since(healed).Round(time.Millisecond))
}
