//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// The country scenario's addresses, added to the world by testCountry
// itself (no other scenario uses them).
var (
	countryBlockedIP  = netip.MustParseAddr("198.51.100.70")      // KP in both databases
	countryBlocked6IP = netip.MustParseAddr("2001:db8:0:100::70") // KP in both databases
	countryStreamIP   = netip.MustParseAddr("198.51.100.71")      // FR: the steady stream during the swap
	countryMovedIP    = netip.MustParseAddr("198.51.100.72")      // DE in the first database, KP in the second
	geoipMirrorIP     = netip.MustParseAddr("198.51.100.75")      // the HTTP server the daemon updates from
)

// blockedCountry is the one country the scenario's daemon blocks.
const blockedCountry = "KP"

// countryDB returns the scenario's country database: the internet segment
// and the office's NAT address in FR, the blocked sources in KP, and
// countryMovedIP in DE (v1) or KP (v2, built a day later, so the daemon
// takes it as an update). The PBX's own addresses are in no country.
func countryDB(t *testing.T, v2 bool) []byte {
	t.Helper()
	moved, built := "DE", geoiptest.DefaultBuilt
	if v2 {
		moved, built = blockedCountry, built.Add(24*time.Hour)
	}
	return geoiptest.MustBytes(t, geoiptest.DB{
		Built: built,
		Networks: geoiptest.Nets(
			"198.51.100.0/24=FR",
			natIP.String()+"/32=FR",
			countryBlockedIP.String()+"/32="+blockedCountry,
			countryMovedIP.String()+"/32="+moved,
			"2001:db8:0:100::/64=FR",
			countryBlocked6IP.String()+"/128="+blockedCountry,
		),
	})
}

// geoipMirror is an HTTP server inside a namespace that serves one
// database file, as a download mirror would; the test replaces the file
// while it runs and sees when the daemon fetched each version.
type geoipMirror struct {
	url string

	mu      sync.Mutex
	body    []byte
	version int
	gets    []mirrorGet
}

// mirrorGet is one download the mirror served.
type mirrorGet struct {
	at      time.Time
	version int
}

// startGeoIPMirror serves body (version 1) at http://addr/country.mmdb
// from a socket opened inside ns; it stops when the test ends.
func startGeoIPMirror(t *testing.T, ns netnstest.NS, addr netip.AddrPort, body []byte) *geoipMirror {
	t.Helper()
	m := &geoipMirror{url: "http://" + addr.String() + "/country.mmdb", body: body, version: 1}
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatalf("%s: listen tcp %s: %v", ns, addr, err)
	}
	srv := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *geoipMirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/country.mmdb" {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	body, v := m.body, m.version
	m.gets = append(m.gets, mirrorGet{time.Now(), v})
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(body)
}

// set publishes a new version of the file.
func (m *geoipMirror) set(body []byte, version int) {
	m.mu.Lock()
	m.body, m.version = body, version
	m.mu.Unlock()
}

// served returns the downloads served so far.
func (m *geoipMirror) served() []mirrorGet {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mirrorGet(nil), m.gets...)
}

// firstGet returns the first download of version v.
func (m *geoipMirror) firstGet(v int) (time.Time, bool) {
	for _, g := range m.served() {
		if g.version == v {
			return g.at, true
		}
	}
	return time.Time{}, false
}

// countryDrops reads the packets dropped for their country from `sipprot
// status --json` (the daemon's status file, written when it stops).
func countryDrops(t *testing.T, ns netnstest.NS, cfgPath string) (int64, bool) {
	t.Helper()
	var st struct {
		Daemon *struct {
			Dropped map[string]int64 `json:"dropped_by_reason"`
		} `json:"daemon"`
	}
	out := cli(t, ns, cfgPath, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Daemon == nil {
		t.Errorf("`sipprot status --json`: no daemon object (%v):\n%s", err, out)
		return 0, false
	}
	n, ok := st.Daemon.Dropped["country"]
	return n, ok
}

// testCountry blocks one country (KP) with a test database that maps an
// attacker's addresses (IPv4 and IPv6) to it and the office's NAT address
// to FR. It runs a daemon of its own (the main one is stopped), whose
// geoip.update_url is an HTTP mirror inside the scan namespace, checked
// every second.
//
//  1. The blocked source's very first packet is dropped: Kamailio never
//     logs a request from it; sources in FR and DE are answered.
//  2. While the office registers, a source in FR sends OPTIONS at 200/s,
//     the KP sources and countryMovedIP at 50/s, and the mirror starts
//     serving a newer database that moves countryMovedIP to KP. The daemon
//     logs the update; every one of the FR stream's requests reaches
//     Kamailio and is answered; nothing from the KP sources does;
//     countryMovedIP is answered until the mirror changed and reaches
//     Kamailio no more once the update is logged; every phone registers.
//  3. After the daemon stops, its packets dropped for their country
//     (`sipprot status --json`) are those the KP sources sent, plus those
//     of countryMovedIP that did not reach Kamailio.
func testCountry(t *testing.T, s *setup) {
	s.stopMain(t)
	w := s.w
	w.guess.Addr(t, "eth0", countryBlockedIP.String()+"/24", countryStreamIP.String()+"/24",
		countryMovedIP.String()+"/24", countryBlocked6IP.String()+"/64")
	w.scan.Addr(t, "eth0", geoipMirrorIP.String()+"/24")

	v1, v2 := countryDB(t, false), countryDB(t, true)
	mirror := startGeoIPMirror(t, w.scan, netip.AddrPortFrom(geoipMirrorIP, 80), v1)
	cfg := s.cfg
	cfg.stateDir = filepath.Join(w.dir, "state-country")
	cfg.countries = []string{blockedCountry}
	cfg.geoipURL, cfg.geoipEvery = mirror.url, time.Second
	if err := os.MkdirAll(cfg.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(cfg.stateDir, "country.mmdb")
	if err := os.WriteFile(dbPath, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	path := cfg.write(t, w.dir, "country")
	d := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-country.log"))
	defer func() {
		if d.p.running() {
			d.stop(t)
		}
	}()
	// The daemon checks the mirror at once (the file is older than
	// update_every) and every second after.
	if !testutil.Poll(5*time.Second, func() bool { return len(mirror.served()) > 0 }) {
		t.Fatalf("the daemon did not download from %s within 5 s of starting; its log:\n%s", mirror.url, tail(d.log, 15))
	}

	// 1. The first packet from a KP address is dropped.
	for _, ip := range []netip.Addr{countryStreamIP, countryMovedIP} {
		if !newSIPClient(t, w.guess, ip, ordinaryUA).reaches(3, time.Second) {
			t.Fatalf("%s (not in a blocked country) gets no answer from Kamailio; daemon log:\n%s", ip, tail(d.log, 15))
		}
	}
	first := time.Now()
	for _, ip := range []netip.Addr{countryBlockedIP, countryBlocked6IP} {
		c := newSIPClient(t, w.guess, ip, ordinaryUA)
		if code := c.options(time.Second); code != 0 {
			t.Errorf("the first OPTIONS from %s (%s) was answered %d", ip, blockedCountry, code)
		}
	}
	tr := w.kam.traffic(t)
	for _, ip := range []netip.Addr{countryBlockedIP, countryBlocked6IP} {
		got := tr.from(ip)
		t.Logf("country %s: the first OPTIONS from %s: %d requests reached Kamailio", blockedCountry, ip, len(got.reqs))
		if len(got.reqs) > 0 {
			t.Errorf("%s is in %s, yet %d requests from it reached Kamailio:\n%s", ip, blockedCountry, len(got.reqs), got.summary())
		}
	}
	if n := len(tr.from(countryStreamIP).since(first.Add(-5 * time.Second)).reqs); n == 0 {
		t.Errorf("Kamailio logged no request from %s although it answered it", countryStreamIP)
	}

	// 2. The database is swapped under traffic, while the office registers.
	start := time.Now()
	phones := startOffice(t, w)
	stream := startPinger(t, newSIPClient(t, w.guess, countryStreamIP, ordinaryUA), 5*time.Millisecond)
	moved := startPinger(t, newSIPClient(t, w.guess, countryMovedIP, ordinaryUA), 20*time.Millisecond)
	blocked := []*pinger{
		startPinger(t, newSIPClient(t, w.guess, countryBlockedIP, ordinaryUA), 20*time.Millisecond),
		startPinger(t, newSIPClient(t, w.guess, countryBlocked6IP, ordinaryUA), 20*time.Millisecond),
	}
	time.Sleep(1500 * time.Millisecond)
	switchAt := time.Now()
	mirror.set(v2, 2)
	var updated logLine
	if !testutil.Poll(10*time.Second, func() bool {
		for _, l := range d.lines(t) {
			if l.msg() == "geoip database updated" {
				updated = l
				return true
			}
		}
		return false
	}) {
		t.Errorf("the daemon logged no \"geoip database updated\" within 10 s of the mirror serving a newer database; its log:\n%s", tail(d.log, 15))
	}
	time.Sleep(1500 * time.Millisecond)
	stream.halt()
	moved.halt()
	for _, p := range blocked {
		p.halt()
	}
	end := time.Now() // every ping was sent before end
	waitOffice(t, phones)
	time.Sleep(500 * time.Millisecond) // the last replies, and Kamailio's log of them

	tr = w.kam.traffic(t).since(start)
	st := stream.stats(start, end)
	reached := len(tr.from(countryStreamIP).reqs)
	t.Logf("swap under traffic: %s (FR) sent %d OPTIONS in %v (%.0f/s), %d reached Kamailio, %d answered; longest gap without an answer %v",
		countryStreamIP, st.sent, end.Sub(start).Round(time.Millisecond), float64(st.sent)/end.Sub(start).Seconds(), reached, st.answered,
		st.longestGap.Round(time.Millisecond))
	if st.answered != st.sent || reached != st.sent {
		t.Errorf("during the database swap %d of %d requests from %s (FR) reached Kamailio and %d were answered; want every one",
			reached, st.sent, countryStreamIP, st.answered)
	}
	var blockedSent int
	for i, ip := range []netip.Addr{countryBlockedIP, countryBlocked6IP} {
		bs := blocked[i].stats(start, end)
		blockedSent += bs.sent
		got := tr.from(ip)
		t.Logf("swap under traffic: %s (%s) sent %d OPTIONS, %d reached Kamailio, %d answered", ip, blockedCountry, bs.sent, len(got.reqs), bs.answered)
		if len(got.reqs) > 0 || bs.answered > 0 {
			t.Errorf("%s is in %s in both databases, yet %d requests from it reached Kamailio (%d answered):\n%s",
				ip, blockedCountry, len(got.reqs), bs.answered, got.summary())
		}
	}

	movedSent := moved.stats(start, end).sent
	if updated != nil {
		at := updated.time()
		fetched, _ := mirror.firstGet(2)
		if want := geoiptest.DefaultBuilt.Add(24 * time.Hour).Format(time.DateOnly); updated.str("build_date") != want {
			t.Errorf("the daemon's update line names build_date %q; want the new database's %s", updated.str("build_date"), want)
		}
		before := moved.stats(start, switchAt)
		movedTr := tr.from(countryMovedIP)
		between := len(movedTr.since(switchAt).reqs) - len(movedTr.since(at).reqs)
		afterTr := movedTr.since(at.Add(grace))
		after := moved.stats(at.Add(grace), end)
		t.Logf("swap: the mirror served the newer database %v after it changed; the daemon logged \"geoip database updated\" (build_date %s, %v bytes) %v after the change, %v after the download",
			fetched.Sub(switchAt).Round(time.Millisecond), updated.str("build_date"), updated["bytes"],
			at.Sub(switchAt).Round(time.Millisecond), at.Sub(fetched).Round(time.Millisecond))
		t.Logf("swap: %s (DE, then %s): %d of %d OPTIONS sent before the mirror changed answered; %d reached Kamailio between the change and the update line; after the update line (+%v) %d sent, %d reached Kamailio",
			countryMovedIP, blockedCountry, before.answered, before.sent, between, grace, after.sent, len(afterTr.reqs))
		if before.answered != before.sent {
			t.Errorf("%s while in DE: %d of %d OPTIONS answered; want all", countryMovedIP, before.answered, before.sent)
		}
		if len(afterTr.reqs) > 0 {
			t.Errorf("%s, in %s since the update at %s, still reached Kamailio %d times:\n%s",
				countryMovedIP, blockedCountry, at.Format("15:04:05.000"), len(afterTr.reqs), afterTr.summary())
		}
		if after.sent == 0 {
			t.Errorf("test bug: %s sent nothing after the update", countryMovedIP)
		}
	}

	ok := tr.from(natIP).okRegisters()
	t.Logf("office (%s, FR): %d requests reached Kamailio during the swap, 200 OK to REGISTER per user %v", natIP, len(tr.from(natIP).reqs), ok)
	for _, p := range office {
		if ok[p.user] != 2 {
			t.Errorf("phone %s: %d successful registrations during the swap; want 2", p.user, ok[p.user])
		}
	}
	if b, err := os.ReadFile(dbPath); err != nil || !bytes.Equal(b, v2) {
		t.Errorf("%s is not the newer database after the update (err %v)", dbPath, err)
	}

	// 3. The daemon's own count of country drops.
	d.stop(t)
	drops, ok2 := countryDrops(t, s.ns, path)
	movedLost := movedSent - len(tr.from(countryMovedIP).reqs)
	t.Logf("country drops counted by the daemon: %d (%s sources sent %d in the swap and 2 first packets; %s had %d not reaching Kamailio)",
		drops, blockedCountry, blockedSent, countryMovedIP, movedLost)
	if !ok2 {
		t.Errorf("`sipprot status --json` counts no packet dropped for its country")
	} else if want := int64(blockedSent + 2); drops < want || drops > want+int64(movedLost) {
		t.Errorf("the daemon dropped %d packets for their country; want at least %d (the %s sources') and at most %d (plus %s's that did not reach Kamailio)",
			drops, want, blockedCountry, want+int64(movedLost), countryMovedIP)
	}
	if n := d.errorLines(t); n > 0 {
		t.Errorf("the country daemon logged %d ERROR lines:\n%s", n, tail(d.log, 15))
	}
}
