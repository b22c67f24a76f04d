//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/fleet/lapitest"
	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// fleetAttacker is the scanner's address at every site: the same source
// attacks the three PBXes.
var fleetAttacker = netip.MustParseAddr("203.0.113.66")

// TestFleetThreeHosts: three sites, each a PBX namespace with Kamailio and
// its own sipprot, its attacker on the PBX's segment, and a management
// bridge to one real CrowdSec LAPI in a namespace of its own:
//
//	atk-a 203.0.113.66 -- pbx-a 203.0.113.10 --+
//	atk-b 203.0.113.66 -- pbx-b 203.0.113.10 --+-- br0 lapi 192.0.2.5:8080
//	atk-c 203.0.113.66 -- pbx-c 203.0.113.10 --+   (pbx 192.0.2.11-.13)
//
// svmap blocked on A reaches B and C 0 times once the block has
// propagated; cscli lists sipprot's alert; `sipprot unblock` on A lifts
// it on B and C; a cscli decision is enforced by all three.
func TestFleetThreeHosts(t *testing.T) {
	requireDaemon(t)
	if _, _, ok := lapitest.Find(); !ok {
		t.Skip("crowdsec not found (run .ci/crowdsec.sh): fleet end-to-end test skipped")
	}
	dir := logDir(t)
	lapiNS := newNetns(t, nsPrefix+"fl-lapi")
	type site struct {
		name     string
		pbx, atk netnstest.NS
		kam      *kamailio
		cfg      string
		d        *daemon
	}
	var sites []*site
	var ports []string
	for i, name := range []string{"a", "b", "c"} {
		s := &site{name: name, pbx: newNetns(t, nsPrefix+"fl-pbx-"+name), atk: newNetns(t, nsPrefix+"fl-atk-"+name)}
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
	lapiAddr := netip.MustParseAddrPort("192.0.2.5:8080")
	l := lapitest.NewWith(t, lapitest.Options{Wrap: []string{"ip", "netns", "exec", string(lapiNS)}, Host: "192.0.2.5", Port: 8080,
		Ready: func() bool { return lapiNS.Listening("tcp", lapiAddr) }})
	for i, s := range sites {
		pw, key := "pbx-"+s.name+"-password-0123456789", "pbx-"+s.name+"-bouncer-0123456789"
		l.AddMachine("pbx-"+s.name, pw)
		l.AddBouncer("pbx-"+s.name, key)
		state := filepath.Join(dir, "state-"+s.name)
		os.MkdirAll(state, 0o755)
		os.WriteFile(filepath.Join(dir, s.name+".pass"), []byte(pw), 0o600)
		os.WriteFile(filepath.Join(dir, s.name+".key"), []byte(key), 0o600)
		s.cfg = daemonConfig{mode: "local", failures: 5, blockTime: 10 * time.Minute, threshold: 3, queueNumber: 40 + i, queueCount: 1,
			tftpPerMinute: 20, tftpBurst: 40, stateDir: state, extra: fmt.Sprintf(`
[fleet]
lapi_url = "http://192.0.2.5:8080"
machine_id = "pbx-%s"
password_file = %q
api_key_file = %q
poll_every = "1s"
`, s.name, filepath.Join(dir, s.name+".pass"), filepath.Join(dir, s.name+".key"))}.write(t, dir, "sipprot-"+s.name)
	}
	l.Start()
	for _, s := range sites {
		s.d = startDaemon(t, s.pbx, s.cfg, filepath.Join(dir, "sipprot-"+s.name+".log"))
		defer s.d.stop(t)
	}
	w := &world{dir: dir}
	a, b, c := sites[0], sites[1], sites[2]

	winner := func(s *site, ip string) string {
		var r struct {
			Winner string `json:"winner"`
			Fleet  *struct {
				Origin, Scenario string
			} `json:"fleet"`
		}
		out := cli(t, s.pbx, s.cfg, "check", ip, "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("check on %s: %v\n%s", s.name, err, out)
		}
		return r.Winner
	}

	// svmap against A: blocked at its first packet, pushed to the LAPI.
	t0 := time.Now()
	sv := startSV(t, w, a.atk, "svmap", fleetAttacker, pbx4.String())
	if err := sv.wait(60 * time.Second); err != nil {
		t.Logf("svmap on A: %v", err)
	}
	if _, ok := a.d.waitBlock(t, fleetAttacker, 10*time.Second); !ok {
		t.Fatalf("A did not block svmap; its log:\n%s", tail(a.d.log, 20))
	}
	for _, s := range []*site{b, c} {
		if !testutil.Poll(15*time.Second, func() bool { return winner(s, fleetAttacker.String()) == "fleet" }) {
			t.Fatalf("%s does not enforce A's block; its log:\n%s", s.name, tail(s.d.log, 20))
		}
	}
	t.Logf("A's block of %s enforced on B and C %v after svmap started", fleetAttacker, time.Since(t0).Round(time.Millisecond))
	if w := winner(a, fleetAttacker.String()); w != "dynamic" {
		t.Errorf("on A the scanner is its own dynamic block, winner %q", w)
	}

	// svmap against B and C now: nothing reaches their Kamailio.
	before := map[string]int{}
	for _, s := range []*site{b, c} {
		before[s.name] = len(s.kam.traffic(t).from(fleetAttacker).reqs)
		sv := startSV(t, w, s.atk, "svmap", fleetAttacker, pbx4.String())
		sv.wait(60 * time.Second)
	}
	for _, s := range []*site{b, c} {
		if n := len(s.kam.traffic(t).from(fleetAttacker).reqs) - before[s.name]; n != 0 {
			t.Errorf("%d svmap requests reached %s's Kamailio after A's block propagated", n, s.name)
		}
		var st struct {
			Daemon struct {
				Dropped map[string]int64 `json:"dropped_by_reason"`
			} `json:"daemon"`
		}
		json.Unmarshal([]byte(cli(t, s.pbx, s.cfg, "status", "--json")), &st)
		if st.Daemon.Dropped["fleet"] == 0 {
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
	for _, s := range []*site{b, c} {
		if !testutil.Poll(15*time.Second, func() bool { return winner(s, fleetAttacker.String()) != "fleet" }) {
			t.Errorf("%s still enforces the block A lifted", s.name)
		}
	}

	// A decision made with cscli is enforced by every sipprot.
	l.Cscli("decisions", "add", "-i", "203.0.113.77")
	for _, s := range sites {
		if !testutil.Poll(15*time.Second, func() bool { return winner(s, "203.0.113.77") == "fleet" }) {
			t.Errorf("%s does not enforce the cscli decision", s.name)
		}
	}
	if out := cli(t, b.pbx, b.cfg, "status"); !strings.Contains(out, "fleet: connected to http://192.0.2.5:8080") {
		t.Errorf("status on B lacks the fleet line:\n%s", out)
	}

	// The LAPI down for 20 s while A is attacked from a new address: A
	// blocks as before, the block waits in its outbox, and reaches B and
	// C once the LAPI is back (a LAPI restart on the same database).
	second := netip.MustParseAddr("203.0.113.67")
	a.atk.Addr(t, "eth0", second.String()+"/24")
	l.Stop()
	down := time.Now()
	sv = startSV(t, w, a.atk, "svmap", second, pbx4.String())
	sv.wait(60 * time.Second)
	if _, ok := a.d.waitBlock(t, second, 10*time.Second); !ok {
		t.Fatalf("A did not block svmap with the LAPI down; its log:\n%s", tail(a.d.log, 20))
	}
	if n := len(a.kam.traffic(t).from(second).reqs); n > 1 {
		t.Errorf("with the LAPI down, %d svmap requests reached A's Kamailio (want at most the first)", n)
	}
	var st struct {
		Daemon struct {
			Fleet struct {
				Outbox        int  `json:"outbox"`
				PushConnected bool `json:"push_connected"`
			} `json:"fleet"`
		} `json:"daemon"`
	}
	if !testutil.Poll(15*time.Second, func() bool {
		json.Unmarshal([]byte(cli(t, a.pbx, a.cfg, "status", "--json")), &st)
		return st.Daemon.Fleet.Outbox == 1
	}) {
		t.Errorf("A's block is not waiting in its outbox: %+v", st.Daemon.Fleet)
	}
	time.Sleep(20*time.Second - time.Since(down)) // the outage lasts 20 s
	l.Start()
	back := time.Now()
	for _, s := range []*site{b, c} {
		if !testutil.Poll(30*time.Second, func() bool { return winner(s, second.String()) == "fleet" }) {
			t.Errorf("%s never got the block A made while the LAPI was down", s.name)
		}
	}
	t.Logf("the block made during a 20 s LAPI outage reached B and C %v after the LAPI came back", time.Since(back).Round(time.Millisecond))

	// C cut off from the LAPI (its packets to it silently dropped, so
	// calls hang until their timeouts) while A blocks a third scanner and
	// C is attacked itself: C protects itself alone, then gets A's block
	// once healed.
	third, fourth := netip.MustParseAddr("203.0.113.68"), netip.MustParseAddr("203.0.113.69")
	a.atk.Addr(t, "eth0", third.String()+"/24")
	c.atk.Addr(t, "eth0", fourth.String()+"/24")
	c.pbx.Run(t, "nft", "add table inet sp_cut")
	c.pbx.Run(t, "nft", "add chain inet sp_cut out { type filter hook output priority 0; }")
	c.pbx.Run(t, "nft", "add rule inet sp_cut out ip daddr 192.0.2.5 drop")
	sv = startSV(t, w, a.atk, "svmap", third, pbx4.String())
	sv.wait(60 * time.Second)
	if !testutil.Poll(15*time.Second, func() bool { return winner(b, third.String()) == "fleet" }) {
		t.Errorf("B did not get A's block while C was cut off")
	}
	sv = startSV(t, w, c.atk, "svmap", fourth, pbx4.String())
	sv.wait(60 * time.Second)
	if _, ok := c.d.waitBlock(t, fourth, 10*time.Second); !ok {
		t.Errorf("C cut off from the LAPI did not block its own scanner")
	}
	if w := winner(c, third.String()); w == "fleet" {
		t.Errorf("C cut off got A's block anyway")
	}
	c.pbx.Run(t, "nft", "delete table inet sp_cut")
	healed := time.Now()
	if !testutil.Poll(30*time.Second, func() bool { return winner(c, third.String()) == "fleet" }) {
		t.Errorf("C healed never got the block A made while it was cut off")
	}
	if !testutil.Poll(30*time.Second, func() bool { return winner(b, fourth.String()) == "fleet" }) {
		t.Errorf("B never got the block C made while cut off")
	}
	t.Logf("after the cut healed: C enforces A's block and B enforces C's within %v", time.Since(healed).Round(time.Millisecond))
}
