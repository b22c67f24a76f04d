//go:build e2e

package e2e

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Addresses of the operator scenarios, in the guesser namespace.
var (
	unblockIP = netip.MustParseAddr("198.51.100.85") // blocked, then unblocked by hand
	permIP    = netip.MustParseAddr("198.51.100.86") // blocked permanently before a restart
	tempIP    = netip.MustParseAddr("198.51.100.87") // blocked temporarily before a restart
)

// statusBlock is one entry of `sipprot status --dynamic --json`.
type statusBlock struct {
	IP        netip.Addr `json:"ip"`
	Reason    string     `json:"reason"`
	Permanent bool       `json:"permanent"`
	Count     int        `json:"count"`
	Until     time.Time  `json:"until"`
	UserAgent string     `json:"user_agent"`
}

// dynamicList runs `sipprot status --dynamic --json` in ns.
func dynamicList(t *testing.T, s *setup, cfgPath string) map[netip.Addr]statusBlock {
	t.Helper()
	out := cli(t, s.ns, cfgPath, "status", "--dynamic", "--json")
	var doc struct {
		Running bool          `json:"daemon_running"`
		List    []statusBlock `json:"dynamic_list"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	m := map[netip.Addr]statusBlock{}
	for _, b := range doc.List {
		m[b.IP] = b
	}
	return m
}

// testUnblock: a scanner is blocked at its first packet; `sipprot status
// --dynamic` shows it with its User-Agent; `sipprot unblock` lets its
// traffic through again within a second, as Kamailio's log shows.
func testUnblock(t *testing.T, s *setup) {
	w := s.w
	start := time.Now()
	scanner := newSIPClient(t, w.guess, unblockIP, "friendly-scanner")
	if code := scanner.options(500 * time.Millisecond); code != 0 {
		t.Fatalf("the scanner's first OPTIONS was answered (%d)", code)
	}
	b, ok := s.d.waitBlock(t, unblockIP, 5*time.Second)
	if !ok || b.Reason != "user_agent" {
		t.Fatalf("scanner %s: block %+v, %v", unblockIP, b, ok)
	}
	text := cli(t, s.ns, s.cfgPath, "status", "--dynamic")
	var line string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, unblockIP.String()) {
			line = l
		}
	}
	if !strings.Contains(line, `user-agent "friendly-scanner"`) || !strings.Contains(line, "user_agent") {
		t.Errorf("`sipprot status --dynamic` does not show %s with its User-Agent:\n%s", unblockIP, text)
	}
	if got := dynamicList(t, s, s.cfgPath)[unblockIP]; got.UserAgent != "friendly-scanner" || got.Permanent {
		t.Errorf("status --json: %s is %+v", unblockIP, got)
	}

	phone := newSIPClient(t, w.guess, unblockIP, ordinaryUA)
	if phone.reaches(2, 300*time.Millisecond) {
		t.Fatalf("%s reached Kamailio while blocked", unblockIP)
	}
	unblocked := time.Now()
	out := cli(t, s.ns, s.cfgPath, "unblock", unblockIP.String())
	if !strings.Contains(out, "lifted the temporary block of "+unblockIP.String()) {
		t.Errorf("unblock printed:\n%s", out)
	}
	var answered time.Time
	for time.Since(unblocked) < 2*time.Second {
		if phone.options(100*time.Millisecond) != 0 {
			answered = time.Now()
			break
		}
	}
	if answered.IsZero() {
		t.Fatalf("%s still gets no answer 2 s after `sipprot unblock`", unblockIP)
	}
	took := answered.Sub(unblocked)
	t.Logf("unblock: `sipprot unblock %s` ran at +%v after the block; its next OPTIONS was answered %v after the command started",
		unblockIP, unblocked.Sub(b.At).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("traffic passed %v after unblock; want within 1 s", took)
	}
	tr := w.kam.traffic(t).from(unblockIP).since(start)
	var before, after int
	for _, r := range tr.reqs {
		if r.At.Before(unblocked) {
			before++
		} else {
			after++
		}
	}
	if before != 0 || after == 0 {
		t.Errorf("Kamailio saw %d requests from %s before the unblock (want 0) and %d after (want some)", before, unblockIP, after)
	}
	if got, ok := dynamicList(t, s, s.cfgPath)[unblockIP]; ok {
		t.Errorf("status still lists %s after unblock: %+v", unblockIP, got)
	}
}

// testRestartKeepsBlocks blocks one source permanently (block_threshold
// 2: blocked twice) and one temporarily, stops the daemon with SIGTERM and
// starts it again: both blocks are in force from the first packet, the
// permanent one still permanent, the temporary one with the end it had.
func testRestartKeepsBlocks(t *testing.T, s *setup) {
	s.stopMain(t)
	w := s.w
	cfg := s.cfg
	cfg.threshold = 2
	cfg.blockTime = 2 * time.Second
	path := cfg.write(t, w.dir, "restart")
	d := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-restart.log"))

	perm := newSIPClient(t, w.guess, permIP, "friendly-scanner")
	perm.options(200 * time.Millisecond)
	if _, ok := d.waitBlock(t, permIP, 5*time.Second); !ok {
		t.Fatalf("%s not blocked", permIP)
	}
	// After the first block lifts, a second attack makes it permanent.
	time.Sleep(cfg.blockTime + 500*time.Millisecond)
	permanent := false
	for i := 0; i < 20 && !permanent; i++ {
		perm.options(200 * time.Millisecond)
		for _, b := range d.blocksOf(t, permIP) {
			permanent = permanent || b.Permanent
		}
	}
	if !permanent {
		t.Fatalf("%s was never blocked permanently: %+v", permIP, d.blocksOf(t, permIP))
	}
	d.stop(t)

	// The temporary block must outlive the restart: a longer block_time.
	cfg.blockTime = 2 * time.Minute
	path = cfg.write(t, w.dir, "restart")
	d = startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-restart-2.log"))
	temp := newSIPClient(t, w.guess, tempIP, "sipcli/v1.8")
	temp.options(200 * time.Millisecond)
	if _, ok := d.waitBlock(t, tempIP, 5*time.Second); !ok {
		t.Fatalf("%s not blocked", tempIP)
	}
	before := dynamicList(t, s, path)
	d.stop(t)

	d = startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-restart-3.log"))
	defer d.stop(t)
	ready := d.ready
	after := dynamicList(t, s, path)
	for _, ip := range []netip.Addr{permIP, tempIP} {
		b, a := before[ip], after[ip]
		if !a.IP.IsValid() {
			t.Errorf("%s lost its block across the restart (before: %+v)", ip, b)
			continue
		}
		if a.Permanent != b.Permanent || a.Reason != b.Reason || a.Count != b.Count || !a.Until.Equal(b.Until) || a.UserAgent != b.UserAgent {
			t.Errorf("%s: block before the restart %+v, after %+v", ip, b, a)
		}
	}
	if !after[permIP].Permanent || after[tempIP].Permanent {
		t.Errorf("after the restart: %s permanent=%v, %s permanent=%v", permIP, after[permIP].Permanent, tempIP, after[tempIP].Permanent)
	}
	left := time.Until(after[tempIP].Until)
	t.Logf("restart: %s permanent (blocked %d times), %s temporary with %v left of its 2m block",
		permIP, after[permIP].Count, tempIP, left.Round(time.Second))
	if left < time.Minute || left > 2*time.Minute {
		t.Errorf("the temporary block has %v left after the restart; want the rest of its 2 minutes", left)
	}
	// Both are dropped from the first packet after the restart.
	checkClient := func(ip netip.Addr) {
		c := newSIPClient(t, w.guess, ip, ordinaryUA)
		if c.reaches(3, 300*time.Millisecond) {
			t.Errorf("%s reached Kamailio after the restart", ip)
		}
	}
	checkClient(permIP)
	checkClient(tempIP)
	for _, ip := range []netip.Addr{permIP, tempIP} {
		if n := len(w.kam.traffic(t).from(ip).since(ready.Add(-grace)).reqs); n != 0 {
			t.Errorf("Kamailio saw %d requests from %s after the restarted daemon was ready", n, ip)
		}
	}
}
