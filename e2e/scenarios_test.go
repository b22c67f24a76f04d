//go:build e2e

package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// grace is how long after a daemon's log line (a block, "sipprot ready")
// the tests still accept a request at Kamailio: the line is written after
// the decision, but a request accepted just before it may be logged by
// Kamailio later, on a busy machine by tens of milliseconds. A firewall
// that lets an attack through does so for far longer.
const grace = 250 * time.Millisecond

// setup is one test's world with sipprot protecting it.
type setup struct {
	w       *world
	ns      netnstest.NS // where sipprot runs: the PBX (local) or the router (forward)
	cfg     daemonConfig
	cfgPath string
	d       *daemon
}

// testBaseline runs attacks with no sipprot and checks that they reach
// Kamailio (and the TFTP and DNS floods their targets) and are counted as
// the protected tests count them: the assertions of the protected runs can
// fail.
func testBaseline(t *testing.T, w *world, limit int) {
	start := time.Now()
	const calls = 12
	g := startGuess(t, w, w.guess, guessRun{src: baseGuess, rate: 50, calls: calls, limit: 10 * time.Second})
	sv := startSV(t, w, w.scan, "svmap", baseScan, pbx4.String())
	if err := g.wait(20 * time.Second); err != nil {
		t.Errorf("sipp guesser without sipprot: %v\n%s", err, tail(g.log, 10))
	}
	if err := sv.wait(20 * time.Second); err != nil {
		t.Errorf("svmap without sipprot: %v\n%s", err, tail(sv.log, 10))
	}
	tr := w.kam.traffic(t).since(start)
	fails := tr.from(baseGuess).failures()
	t.Logf("without sipprot: %d of %d wrong-password attempts from %s reached Kamailio (limit %d would stop at %d); svmap from %s: %d requests reached it",
		len(fails), calls, baseGuess, limit, limit, baseScan, len(tr.from(baseScan).reqs))
	if len(fails) != calls {
		t.Errorf("without sipprot, %d of %d guesses reached Kamailio as failures; want all\n%s", len(fails), calls, tr.from(baseGuess).summary())
	}
	if n := len(tr.from(baseScan).reqs); n == 0 {
		t.Errorf("without sipprot, no svmap request reached Kamailio")
	}
	sent, got, _ := tftpFlood(t, w, baseGuess)
	t.Logf("without sipprot: %d of %d TFTP packets reached the server", got, sent)
	if got != sent {
		t.Errorf("without sipprot, %d of %d TFTP packets reached the server; want all", got, sent)
	}
	for _, ip := range []netip.Addr{dnsIP, dns6IP} {
		sizes := dnsExchange(t, w, ip)
		t.Logf("without sipprot: DNS responses from [%s]:53 received: %v", ip, sizes)
		if !slices.Contains(sizes, 4000) {
			t.Errorf("without sipprot, the 4000-byte DNS response from %s did not arrive (received %v)", ip, sizes)
		}
	}
}

// testGuessing runs a sipp password guesser with an ordinary User-Agent
// (from run.src at run.rate calls/s, for run.limit or 6 s), with tcpdump on
// its interface. Failed attempts reaching Kamailio must be at least the
// limit and at most the limit plus those in flight (see attackerInFlight).
// After the block nothing from src reaches Kamailio until the block lifts:
// block_time after the attacker's last packet that came less than
// block_time after the one before (see blockLifts). That is after the
// attack for UDP, which goes on for longer than block_time after the
// block, so only the restarts keep the block. With no attack for
// block_time, src reaches Kamailio again.
func testGuessing(t *testing.T, s *setup, ns netnstest.NS, run guessRun) {
	limit := s.cfg.failures
	src, rate := run.src, run.rate
	if run.limit == 0 {
		run.limit = 6 * time.Second
	}
	capt := startCapture(t, s.w, ns, src)
	start := time.Now()
	g := startGuess(t, s.w, ns, run)
	blk, blocked := s.d.waitBlock(t, src, 10*time.Second)
	_ = g.wait(15 * time.Second) // an attacker's exit status says nothing
	end := time.Now()
	capt.stop(t)
	tr := s.w.kam.traffic(t).from(src).since(start)
	if !blocked {
		t.Fatalf("guessing from %s at %d/s: sipprot logged no block; reached Kamailio: %s\nsipprot log:\n%s",
			src, rate, tr.summary(), tail(s.d.log, 15))
	}
	msgs := capt.messages(t)
	lifts, midAttack := blockLifts(msgs, blk.At, s.cfg.blockTime)
	// What reached Kamailio before the block lifted; after that (TCP's
	// retransmission backoff can leave a gap longer than block_time) the
	// source is a new one to sipprot.
	var before traffic
	for _, r := range tr.reqs {
		if r.At.Before(lifts) {
			before.reqs = append(before.reqs, r)
		}
	}
	for _, r := range tr.replies {
		if r.At.Before(lifts) {
			before.replies = append(before.replies, r)
		}
	}
	fails := before.failures()
	inflight, sawLimit := attackerInFlight(msgs, fails, limit)
	if len(fails) > limit && sawLimit.IsZero() {
		t.Logf("note: the attacker's capture lacks the replies to its first %d failed attempts; all later ones count as in flight", limit)
	}
	after := before.since(blk.At.Add(grace))
	over := ""
	if run.tcp {
		over = " over TCP"
	}
	t.Logf("guessing from %s at %d/s%s: %d failed attempts reached Kamailio (limit %d; in flight: %d more, sent before the attacker got its %dth failure reply); %d requests in all; blocked %v after the start (reason %s, ua %q); %d requests reached Kamailio in the %v from the block until it lifted (block_time after the attacker's last packet)",
		src, rate, over, len(fails), limit, inflight, limit, len(before.reqs), blk.At.Sub(start).Round(time.Millisecond),
		blk.Reason, blk.UA, len(after.reqs), lifts.Sub(blk.At).Round(time.Millisecond))
	if midAttack {
		t.Logf("the attacker sent nothing for block_time %v (TCP's retransmission backoff), so the block lifted mid-attack at %v, %v after it began; %d requests reached Kamailio after that",
			s.cfg.blockTime, lifts.Format("15:04:05.000"), lifts.Sub(blk.At).Round(time.Millisecond), len(tr.reqs)-len(before.reqs))
	}
	if len(fails) < limit {
		t.Errorf("only %d failed attempts reached Kamailio before the block; want the limit %d (blocked too early?)\n%s", len(fails), limit, before.summary())
	}
	if len(fails) > limit+inflight {
		t.Errorf("%d failed attempts reached Kamailio; want at most the limit %d plus %d in flight\n%s", len(fails), limit, inflight, before.summary())
	}
	if len(after.reqs) > 0 {
		t.Errorf("%d requests from %s reached Kamailio after its block at %s:\n%s", len(after.reqs), src, blk.At.Format("15:04:05.000000"), after.summary())
	}
	if blk.Reason != "failures" || blk.UA != ordinaryUA {
		t.Errorf("block line: reason %q user_agent %q; want failures, %q", blk.Reason, blk.UA, ordinaryUA)
	}
	if lifts.Sub(blk.At) < s.cfg.blockTime {
		t.Logf("note: the attack stopped %v after the block, within block_time %v: the clock restart was not exercised", lifts.Sub(blk.At).Round(time.Millisecond), s.cfg.blockTime)
	}

	// No attack for block_time: the block lifts. Nothing observable marks
	// the moment (a probe before it would restart the clock), so wait.
	time.Sleep(time.Until(end.Add(s.cfg.blockTime + time.Second)))
	probeAt := time.Now()
	c := newSIPClient(t, ns, src, ordinaryUA)
	if !c.reaches(3, time.Second) {
		var since []string
		for _, b := range s.d.blocksOf(t, src) {
			if !b.At.Before(probeAt) {
				since = append(since, fmt.Sprintf("%s blocked again: reason %s, user_agent %q", b.At.Format("15:04:05.000"), b.Reason, b.UA))
			}
		}
		t.Errorf("%s does not reach Kamailio %v after its attack ended (block_time %v); sipprot's block lines for it since: %v",
			src, probeAt.Sub(end).Round(time.Millisecond), s.cfg.blockTime, since)
	} else if n := len(s.w.kam.traffic(t).from(src).since(probeAt).reqs); n == 0 {
		t.Errorf("%s got a reply but Kamailio logged no request from it", src)
	}
}

// testScanners runs svmap, svwar and svcrack, each from its own address,
// with their default (scanner) User-Agent: not one request may reach
// Kamailio, and each source is blocked for its User-Agent.
func testScanners(t *testing.T, s *setup) {
	w := s.w
	start := time.Now()
	runs := []struct {
		src  netip.Addr
		p    *proc
		tool string
	}{
		{svmapIP, startSV(t, w, w.scan, "svmap", svmapIP, pbx4.String()), "svmap"},
		{svwarIP, startSV(t, w, w.war, "svwar", svwarIP, "-e1000-1040", pbx4.String()), "svwar"},
		{svcrackIP, startSV(t, w, w.crack, "svcrack", svcrackIP, "-u1001", "-r1-30", pbx4.String()), "svcrack"},
		{svmap6IP, startSV(t, w, w.scan, "svmap", svmap6IP, "-x", "["+svmap6IP.String()+"]", pbx6.String()), "svmap -6"},
	}
	for _, r := range runs {
		_ = r.p.wait(60 * time.Second)
	}
	tr := w.kam.traffic(t).since(start)
	for _, r := range runs {
		got := tr.from(r.src)
		bs := s.d.blocksOf(t, r.src)
		t.Logf("%s from %s: %d requests reached Kamailio; %d block lines %v", r.tool, r.src, len(got.reqs), len(bs), bs)
		if len(got.reqs) > 0 {
			t.Errorf("%s from %s: %d requests reached Kamailio; want none\n%s\n%s:\n%s", r.tool, r.src, len(got.reqs), got.summary(), r.tool, tail(r.p.log, 10))
		}
		if len(bs) == 0 {
			t.Errorf("%s from %s: no block line", r.tool, r.src)
		} else if bs[0].Reason != "user_agent" || bs[0].UA != "friendly-scanner" {
			t.Errorf("%s from %s: blocked with reason %q user_agent %q; want user_agent, friendly-scanner", r.tool, r.src, bs[0].Reason, bs[0].UA)
		}
	}
}

// testOfficeUnderAttack runs the office's four phones (one mistyping its
// password three times) during a 1,000/s guessing attack: every
// registration succeeds and the office's NAT address is never blocked.
func testOfficeUnderAttack(t *testing.T, s *setup) {
	start := time.Now()
	phones := startOffice(t, s.w)
	testGuessing(t, s, s.w.guess, guessRun{src: guessFastIP, rate: 1000, calls: 2000})
	waitOffice(t, phones)
	tr := s.w.kam.traffic(t).from(natIP).since(start)
	ok := tr.okRegisters()
	t.Logf("office (%s): %d requests reached Kamailio, 200 OK to REGISTER per user %v, %d failed attempts (the mistyping phone's)",
		natIP, len(tr.reqs), ok, len(tr.failures()))
	for _, p := range office {
		if ok[p.user] != 2 {
			t.Errorf("phone %s: %d successful registrations; want 2 (register and re-register)", p.user, ok[p.user])
		}
	}
	if bs := s.d.blocksOf(t, natIP); len(bs) > 0 {
		t.Errorf("the office's NAT address %s was blocked: %v", natIP, bs)
	}
}

// testLists checks the allow and deny lists: the allow-listed trunk sends
// more failures than the limit and all reach Kamailio, unblocked; the
// deny-listed addresses (IPv4 in a CIDR, IPv6) never reach it.
func testLists(t *testing.T, s *setup) {
	w := s.w
	start := time.Now()
	const calls = 25
	g := startGuess(t, w, w.trunk, guessRun{src: trunkIP, rate: 50, calls: calls, limit: 10 * time.Second})
	if err := g.wait(20 * time.Second); err != nil {
		t.Errorf("the trunk's sipp run: %v\n%s", err, tail(g.log, 10))
	}
	tr := w.kam.traffic(t).from(trunkIP).since(start)
	fails := tr.failures()
	t.Logf("allow-listed trunk %s: %d of %d failed attempts reached Kamailio (limit %d)", trunkIP, len(fails), calls, s.cfg.failures)
	if len(fails) != calls {
		t.Errorf("allow-listed trunk: %d of %d failed attempts reached Kamailio; want all\n%s", len(fails), calls, tr.summary())
	}
	if bs := s.d.blocksOf(t, trunkIP); len(bs) > 0 {
		t.Errorf("allow-listed trunk %s was blocked: %v", trunkIP, bs)
	}
	if !newSIPClient(t, w.trunk, trunkIP, ordinaryUA).reaches(3, time.Second) {
		t.Errorf("allow-listed trunk %s does not reach Kamailio after its failures", trunkIP)
	}

	start = time.Now()
	for _, ip := range []netip.Addr{deniedIP, denied6IP} {
		if newSIPClient(t, w.scan, ip, ordinaryUA).reaches(3, 500*time.Millisecond) {
			t.Errorf("deny-listed %s got a reply from Kamailio", ip)
		}
		got := w.kam.traffic(t).from(ip).since(start)
		t.Logf("deny-listed %s: %d requests reached Kamailio", ip, len(got.reqs))
		if len(got.reqs) > 0 {
			t.Errorf("deny-listed %s: %d requests reached Kamailio\n%s", ip, len(got.reqs), got.summary())
		}
	}
}

// testIPv6 runs the password guesser over IPv6 (svmap over IPv6 is part of
// testScanners).
func testIPv6(t *testing.T, s *setup) {
	testGuessing(t, s, s.w.guess, guessRun{src: guess6IP, rate: 50, calls: 300})
}

// tftpRRQ is a TFTP read request for a phone's provisioning file.
var tftpRRQ = append(append([]byte{0, 1}, "SEP001122334455.cnf.xml"...), append([]byte{0}, "octet\x00"...)...)

// tftpFlood sends 300 TFTP read requests at 250/s (under the kernel
// guard) from one source to UDP 69 on the PBX and returns how many
// arrived and over how long they were sent.
func tftpFlood(t *testing.T, w *world, src netip.Addr) (sent, got int, elapsed time.Duration) {
	t.Helper()
	srv := w.pbx.ListenUDP(t, netip.AddrPortFrom(pbx4, 69))
	defer srv.Close()
	var n atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := srv.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	cl := w.guess.ListenUDP(t, netip.AddrPortFrom(src, 0))
	defer cl.Close()
	sent = 300
	dst := netip.AddrPortFrom(pbx4, 69)
	first := time.Now()
	for i := range sent {
		if _, err := cl.WriteToUDPAddrPort(tftpRRQ, dst); err != nil {
			t.Fatalf("send TFTP packet %d: %v", i, err)
		}
		time.Sleep(4 * time.Millisecond) // pacing, not waiting
	}
	elapsed = time.Since(first)
	stable(&n, 300*time.Millisecond, 3*time.Second)
	return sent, int(n.Load()), elapsed
}

// testTFTP floods the PBX's TFTP port from one source: at most burst plus
// per_minute x elapsed packets pass (and at least the burst).
func testTFTP(t *testing.T, s *setup) {
	sent, n, elapsed := tftpFlood(t, s.w, tftpIP)
	maxPass := s.cfg.tftpBurst + int(float64(s.cfg.tftpPerMinute)*elapsed.Minutes()) + 1
	t.Logf("TFTP flood from %s: %d packets in %v, %d reached the server (burst %d, %d/minute: at most %d)",
		tftpIP, sent, elapsed.Round(time.Millisecond), n, s.cfg.tftpBurst, s.cfg.tftpPerMinute, maxPass)
	if n > maxPass || n < s.cfg.tftpBurst {
		t.Errorf("TFTP flood: %d of %d packets reached the server; want between the burst %d and %d", n, sent, s.cfg.tftpBurst, maxPass)
	}
}

// stable waits until n has not changed for quiet (at most timeout).
func stable(n *atomic.Int64, quiet, timeout time.Duration) {
	last, since := n.Load(), time.Now()
	testutil.Poll(timeout, func() bool {
		if v := n.Load(); v != last {
			last, since = v, time.Now()
		}
		return time.Since(since) >= quiet
	})
}

// dnsResponse returns a DNS response (header with QR set, then filler) of
// size bytes.
func dnsResponse(id uint16, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x8180) // response, recursion desired+available
	binary.BigEndian.PutUint16(b[4:], 1)      // one question
	binary.BigEndian.PutUint16(b[6:], 1)      // one answer
	for i := 12; i < size; i++ {
		b[i] = 'x'
	}
	return b
}

// dnsExchange sends a 4000-byte and then a 512-byte DNS response from
// srvIP, port 53, to a resolver port on the PBX, and returns the sizes
// that arrived (in order).
func dnsExchange(t *testing.T, w *world, srvIP netip.Addr) []int {
	t.Helper()
	dst := netip.AddrPortFrom(pbxAddr(srvIP).Addr(), 40053)
	resolver := w.pbx.ListenUDP(t, dst)
	defer resolver.Close()
	sizes := make(chan int, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := resolver.Read(buf)
			if err != nil {
				return
			}
			sizes <- n
		}
	}()
	srv := w.scan.ListenUDP(t, netip.AddrPortFrom(srvIP, 53))
	defer srv.Close()
	for i, size := range []int{4000, 512} {
		if _, err := srv.WriteToUDPAddrPort(dnsResponse(uint16(i+1), size), dst); err != nil {
			t.Fatal(err)
		}
	}
	// The small response follows the big one on the same path: once it is
	// in, the big one has arrived too unless it was dropped.
	var got []int
	timeout := time.After(3 * time.Second)
	for len(got) == 0 || got[len(got)-1] != 512 {
		select {
		case n := <-sizes:
			got = append(got, n)
		case <-timeout:
			t.Errorf("DNS from %s: the 512-byte response did not arrive (received sizes %v)", srvIP, got)
			return got
		}
	}
	return got
}

// testDNS checks the DNS guard over IPv4 and IPv6: an oversized response
// (4000 bytes, over the 2048 limit, fragmented on the way) is dropped, a
// normal one (512 bytes) passes.
func testDNS(t *testing.T, s *setup) {
	for _, srvIP := range []netip.Addr{dnsIP, dns6IP} {
		got := dnsExchange(t, s.w, srvIP)
		t.Logf("DNS responses from [%s]:53: sent 4000 and 512 bytes, received %v", srvIP, got)
		if slices.Contains(got, 4000) {
			t.Errorf("DNS from %s: the oversized (4000-byte) response was delivered; received sizes %v", srvIP, got)
		}
	}
}

// checkNoStrayBlocks fails the test for any block line of an address no
// scenario attacks from (the office, the trunk, the router, the PBX).
func checkNoStrayBlocks(t *testing.T, d *daemon, attackers ...netip.Addr) {
	t.Helper()
	ok := map[netip.Addr]bool{}
	for _, a := range attackers {
		ok[a] = true
	}
	var stray []string
	for _, b := range d.blocks(t) {
		if !ok[b.IP] {
			stray = append(stray, b.IP.String()+" ("+b.Reason+")")
		}
	}
	if len(stray) > 0 {
		t.Errorf("sipprot blocked addresses that never attacked: %s", strings.Join(stray, ", "))
	}
}
