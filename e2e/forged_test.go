//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// forgerIP is the forging namespace's own address: its packets never
// carry it.
var forgerIP = "198.51.100.90"

// forgedPort is the source port of the forged requests: not one the
// office's NAT maps for a phone, so the PBX's replies die at the NAT
// (port unreachable) and reach neither a phone nor the forger.
const forgedPort = 5099

// rawSender sends IPv4/UDP packets with any source address from a raw
// socket (IP_HDRINCL) inside a namespace.
type rawSender struct{ fd int }

func newRawSender(t *testing.T, ns netnstest.NS) *rawSender {
	t.Helper()
	s := &rawSender{fd: -1}
	if err := ns.Do(func() (err error) {
		s.fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatalf("raw socket in %s: %v", ns, err)
	}
	t.Cleanup(func() { syscall.Close(s.fd) })
	return s
}

// send sends payload from src:sport to dst:dport.
func (s *rawSender) send(src string, sport uint16, dst string, dport uint16, payload string) error {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: to4(src), DstIP: to4(dst)}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload(payload)); err != nil {
		return err
	}
	to := &syscall.SockaddrInet4{Port: int(dport)}
	copy(to.Addr[:], ip.DstIP)
	if err := syscall.Sendto(s.fd, buf.Bytes(), 0, to); err != nil {
		return fmt.Errorf("raw send from %s: %w", src, err)
	}
	return nil
}

// to4 is an IPv4 address as 4 bytes.
func to4(s string) []byte {
	b := parseAddr(s).As4()
	return b[:]
}

// forgedRegister is a REGISTER claiming to come from the office's NAT
// address; with nonce it carries credentials answering a challenge the
// forger never saw (it guesses one).
func forgedRegister(callID, user string, cseq int, nonce string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n", pbx4, natIP, forgedPort, callID)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n", user, pbx4, callID, user, pbx4, callID, cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s:%d>\r\nUser-Agent: %s\r\nExpires: 3600\r\n", user, natIP, forgedPort, ordinaryUA)
	if nonce != "" {
		fmt.Fprintf(&b, "Authorization: Digest username=%q, realm=%q, nonce=%q, uri=\"sip:%s\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n",
			user, pbx4.String(), nonce, pbx4)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// forgery is what one forging run did, from Kamailio's log.
type forgery struct {
	reqs, fails int            // forged requests that reached Kamailio, and its failure replies to them
	officeReqs  int            // the office's own requests
	ok          map[string]int // 200 OK to REGISTER per office user
}

// forge sends, as the office's NAT address, perKind REGISTERs with
// made-up credentials and perKind for users that do not exist (at 200/s
// in all: under the kernel guard's 500/s per source, so what it drops is
// not what is tested), while the office registers rounds times. With
// checkOffice every phone must register in every round.
func forge(t *testing.T, w *world, raw *rawSender, perKind, rounds int, checkOffice bool) forgery {
	t.Helper()
	start := time.Now()
	forged := make(chan error, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := range perKind {
			<-tick.C
			id := fmt.Sprintf("forged-cred-%d-%d", start.UnixNano(), i)
			if err := raw.send(natIP.String(), forgedPort, pbx4.String(), sipPort, forgedRegister(id, fmt.Sprint(1000+i%20), 2, fmt.Sprintf("guessed-%d", i))); err != nil {
				forged <- err
				return
			}
			<-tick.C
			id = fmt.Sprintf("forged-scan-%d-%d", start.UnixNano(), i)
			if err := raw.send(natIP.String(), forgedPort, pbx4.String(), sipPort, forgedRegister(id, fmt.Sprint(3000+i), 1, "")); err != nil {
				forged <- err
				return
			}
		}
		forged <- nil
	}()
	for range rounds {
		ps := startOffice(t, w)
		if checkOffice {
			waitOffice(t, ps)
		} else {
			for _, p := range ps {
				_ = p.wait(40 * time.Second) // blocked phones fail: expected here
			}
		}
	}
	if err := <-forged; err != nil {
		t.Fatalf("forging: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the last replies
	tr := w.kam.traffic(t).from(natIP).since(start)
	f := forgery{ok: tr.okRegisters()}
	for _, r := range tr.reqs {
		if strings.HasPrefix(r.CallID, "forged-") {
			f.reqs++
		} else {
			f.officeReqs++
		}
	}
	for _, fl := range tr.failures() {
		if strings.HasPrefix(fl.req.CallID, "forged-") {
			f.fails++
		}
	}
	return f
}

// TestForgedSources: a forging namespace sends, with the office's public
// (NAT) address as source, 1,000 REGISTERs with made-up credentials and
// 1,000 REGISTERs for users that do not exist, while the office's phones
// keep registering. Kamailio answers every one of them (401, 404) to the
// office: under address-only counting that is 200 failures a minute of
// the office, and the baseline shows it blocked. With nonce binding (the
// default) the office is never blocked and every phone registers; a real
// guesser from its own address still gets exactly failures_per_minute
// failures through.
func TestForgedSources(t *testing.T) {
	requireEnv(t)
	requireDaemon(t)
	w := newWorld(t, "s")
	fns := newNetns(t, nsPrefix+"s-forge")
	netnstest.Link(t, w.rtr, "eth-forge", fns, "eth0")
	w.rtr.Run(t, "ip", "link", "set", "eth-forge", "master", "inet0")
	fns.Addr(t, "eth0", forgerIP+"/24")
	fns.Route(t, "default", rtrInet4.String())
	hostFirewall(t, w.pbx, "INPUT")
	raw := newRawSender(t, fns)

	// block_time covers the gap between two office registrations (the
	// proof lasts block_time from each 200) and keeps the test short.
	cfg := daemonConfig{
		mode: "local", failures: 10, blockTime: 10 * time.Second, threshold: 20,
		queueCount: 1, tftpPerMinute: 60, tftpBurst: 20,
		stateDir: filepath.Join(w.dir, "state"),
	}

	t.Run("baseline-address-only", func(t *testing.T) {
		base := cfg
		base.noBindNonces, base.stateDir = true, filepath.Join(w.dir, "state-address-only")
		d := startDaemon(t, w.pbx, base.write(t, w.dir, "sipprot-address-only"), filepath.Join(w.dir, "sipprot-address-only.log"))
		f := forge(t, w, raw, 200, 1, false)
		bs := d.blocksOf(t, natIP)
		t.Logf("bind_nonces = false: %d forged requests reached Kamailio, %d answered with a failure; the office's %s: %d block lines %v; 200 OK per user %v",
			f.reqs, f.fails, natIP, len(bs), bs, f.ok)
		if len(bs) == 0 {
			t.Errorf("without nonce binding the forged traffic did not block the office: the test below could not fail")
		}
		d.stop(t)
	})

	s := &setup{w: w, ns: w.pbx, cfg: cfg}
	s.cfgPath = cfg.write(t, w.dir, "sipprot")
	s.d = startDaemon(t, w.pbx, s.cfgPath, filepath.Join(w.dir, "sipprot.log"))

	// The office registers once: from now on it is proven. Then two more
	// rounds while the forger sends; the mistyping phone's 3 typos a
	// round (real failures, counted) stay under the limit: 9 in the minute.
	start := time.Now()
	waitOffice(t, startOffice(t, w))
	const perKind = 1000
	f := forge(t, w, raw, perKind, 2, true)
	ok := w.kam.traffic(t).from(natIP).since(start).okRegisters()
	bs := s.d.blocksOf(t, natIP)
	st := forgedStatus(t, w.pbx, s.cfgPath)
	t.Logf("forger in %s sending as %s: %d requests reached Kamailio, which answered %d of them with a failure (401 to credentials, 404) sent to the office; "+
		"office: %d requests of its own, 200 OK to REGISTER per user %v; blocks of %s: %d; status: %d credentials answering no challenge of theirs, %d failures refused for a proven source",
		fns, natIP, f.reqs, f.fails, f.officeReqs, ok, natIP, len(bs), st.UnboundCredentials, st.ProvenRefused)
	// The forgery worked: without binding each of these is a failure of
	// the office, a hundred times the limit.
	if f.fails < 2*perKind*9/10 {
		t.Errorf("only %d forged requests were answered with a failure by Kamailio; the test did not forge", f.fails)
	}
	if len(bs) > 0 {
		t.Errorf("the office's address %s was blocked by forged traffic: %v", natIP, bs)
	}
	for _, p := range office {
		if ok[p.user] != 6 {
			t.Errorf("phone %s: %d successful registrations; want 6 (three rounds of register and re-register)", p.user, ok[p.user])
		}
	}
	if st.UnboundCredentials < perKind*9/10 || st.ProvenRefused < perKind*9/10 {
		t.Errorf("status counts %d unbound credentials and %d failures refused for a proven source; want about %d each",
			st.UnboundCredentials, st.ProvenRefused, perKind)
	}

	// A real guesser from its own address: blocked after exactly the limit.
	t.Run("real-guesser", func(t *testing.T) {
		gstart := time.Now()
		testGuessing(t, s, w.guess, guessRun{src: guessSlowIP, rate: 10, calls: 60})
		fails := w.kam.traffic(t).from(guessSlowIP).since(gstart).failures()
		t.Logf("real guesser %s: %d failed attempts reached Kamailio (limit %d)", guessSlowIP, len(fails), cfg.failures)
		if len(fails) != cfg.failures {
			t.Errorf("%d failed attempts of the real guesser reached Kamailio; want exactly %d", len(fails), cfg.failures)
		}
	})
	checkNoStrayBlocks(t, s.d, guessSlowIP)
}

// forgedCounts is the part of `sipprot status --json` about forged sources.
type forgedCounts struct {
	UnboundCredentials uint64 `json:"unbound_credentials"`
	ProvenRefused      uint64 `json:"failures_refused_proven"`
}

func forgedStatus(t *testing.T, ns netnstest.NS, cfg string) forgedCounts {
	t.Helper()
	var doc struct {
		Daemon forgedCounts `json:"daemon"`
	}
	out := cli(t, ns, cfg, "status", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return doc.Daemon
}
