//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFlood: one source sends REGISTERs with a wrong password as fast as a
// sender here can, while the office registers. After its block none of its
// packets reach Kamailio (a packet that bypassed a full queue would), and
// every office registration succeeds: the kernel's per-source guard keeps
// the flood from filling the queue.
func testFlood(t *testing.T, s *setup) {
	w := s.w
	start := time.Now()
	phones := startOffice(t, w)
	var conn *net.UDPConn
	if err := w.guess.Do(func() (err error) {
		conn, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(floodIP, 5090)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(pbx4, 5060)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Like a real guesser, the flooder answers a challenge it received:
	// credentials answering none would not be password guesses, and
	// sipprot would not count their 401s as failures ([sip] bind_nonces).
	nonce := challengeNonce(t, conn)
	const senders, length = 2, 4 * time.Second
	var sent atomic.Int64
	deadline := time.Now().Add(length)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1024)
			for i := 0; time.Now().Before(deadline); i++ {
				buf = fmt.Appendf(buf[:0], "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5090;branch=z9hG4bK-f%d-%d;rport\r\n"+
					"Max-Forwards: 70\r\nFrom: <sip:1002@%s>;tag=f%d\r\nTo: <sip:1002@%s>\r\nCall-ID: flood-%d-%d@%s\r\nCSeq: 1 REGISTER\r\n"+
					"Contact: <sip:1002@%s:5090>\r\nUser-Agent: %s\r\n"+
					"Authorization: Digest username=\"1002\", realm=\"%s\", nonce=\"%s\", uri=\"sip:%s\", response=\"00000000000000000000000000000000\"\r\n"+
					"Expires: 60\r\nContent-Length: 0\r\n\r\n",
					pbx4, floodIP, g, i, pbx4, g, pbx4, g, i, floodIP, floodIP, ordinaryUA, pbx4, nonce, pbx4)
				if _, err := conn.Write(buf); err == nil {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	n := sent.Load()
	b, ok := s.d.waitBlock(t, floodIP, 5*time.Second)
	waitOffice(t, phones)
	if !ok {
		t.Fatalf("flooding source %s never blocked (%d REGISTERs sent)", floodIP, n)
	}
	tr := w.kam.traffic(t).from(floodIP).since(start)
	// A request judged just before the block may be logged by Kamailio a
	// moment after it.
	after := tr.since(b.At.Add(100 * time.Millisecond))
	t.Logf("flood from %s: %d REGISTERs in %v (%.0f/s); blocked (%s) %v after the start; %d reached Kamailio, %d of them after the block",
		floodIP, n, length, float64(n)/length.Seconds(), b.Reason, b.At.Sub(start).Round(time.Millisecond), len(tr.reqs), len(after.reqs))
	if len(after.reqs) > 0 {
		t.Errorf("%d requests of the blocked flooder reached Kamailio after its block (bypass or leak)\n%s", len(after.reqs), after.summary())
	}
	ok2 := w.kam.traffic(t).from(natIP).since(start).okRegisters()
	for _, p := range office {
		if ok2[p.user] != 2 {
			t.Errorf("phone %s: %d successful registrations during the flood; want 2", p.user, ok2[p.user])
		}
	}
	if bs := s.d.blocksOf(t, natIP); len(bs) > 0 {
		t.Errorf("the office's NAT address %s was blocked: %v", natIP, bs)
	}
}

var nonceRE = regexp.MustCompile(`(?i)\bnonce="([^"]+)"`)

// challengeNonce sends a REGISTER without credentials on conn and returns
// the nonce of Kamailio's 401.
func challengeNonce(t *testing.T, conn *net.UDPConn) string {
	t.Helper()
	req := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5090;branch=z9hG4bK-fch;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:1002@%s>;tag=fch\r\nTo: <sip:1002@%s>\r\nCall-ID: flood-challenge@%s\r\nCSeq: 1 REGISTER\r\n"+
		"Contact: <sip:1002@%s:5090>\r\nUser-Agent: %s\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
		pbx4, floodIP, pbx4, pbx4, floodIP, floodIP, ordinaryUA)
	buf := make([]byte, 4096)
	for range 3 {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			continue
		}
		if m := nonceRE.FindSubmatch(buf[:n]); m != nil {
			conn.SetReadDeadline(time.Time{})
			return string(m[1])
		}
	}
	t.Fatalf("no challenge from Kamailio to %s", floodIP)
	return ""
}
