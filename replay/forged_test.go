package replay_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/sipprot/sipprot/capture"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/replay"
)

// The world of testdata/captures (README there), plus a SIP trunk.
const (
	pbxIP     = "203.0.113.10"
	officeIP  = "198.51.100.20" // the office's NAT address
	trunkIP   = "198.51.100.30" // a provider's trunk, registering to the PBX
	forgerIP  = "198.51.100.99" // where the forger really is (never seen)
	guesserIP = "198.51.100.77" // sipp-guess.pcap
	crackerIP = "198.51.100.66" // svcrack.pcap
)

// pkt is one IP packet of the crafted capture, with its origin for the
// assertions.
type pkt struct {
	at   time.Time
	data []byte
	from string // "office", "trunk", "forger", "pbx", "sipp-guess", "svcrack"
	// orig is the record's index in its original capture (recorded ones).
	orig int
}

// udp4 is an IPv4/UDP packet.
func udp4(t *testing.T, src string, sport uint16, dst string, dport uint16, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

// sipRegister is a REGISTER as sipp sends it; nonce "" means without
// credentials.
func sipRegister(src string, sport uint16, user, callID string, cseq int, nonce string) string {
	s := fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s:%[3]d;branch=z9hG4bK-%[5]s-%[6]d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:%[4]s@%[1]s>;tag=%[5]s\r\nTo: <sip:%[4]s@%[1]s>\r\nCall-ID: %[5]s\r\nCSeq: %[6]d REGISTER\r\n"+
		"Contact: <sip:%[4]s@%[2]s:%[3]d>\r\nUser-Agent: Zoiper rv2.10.20.3\r\nExpires: 3600\r\n",
		pbxIP, src, sport, user, callID, cseq)
	if nonce != "" {
		s += fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="sip:%s", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001`+"\r\n",
			user, pbxIP, nonce, pbxIP)
	}
	return s + "Content-Length: 0\r\n\r\n"
}

// kamailioReply is Kamailio's answer to a REGISTER: 401 carries a fresh
// challenge with nonce.
func kamailioReply(src string, sport uint16, user, callID string, cseq, status int, nonce string) string {
	reason := map[int]string{200: "OK", 401: "Unauthorized", 404: "Not Found"}[status]
	s := fmt.Sprintf("SIP/2.0 %[7]d %[8]s\r\nVia: SIP/2.0/UDP %[2]s:%[3]d;branch=z9hG4bK-%[5]s-%[6]d;rport=%[3]d\r\n"+
		"From: <sip:%[4]s@%[1]s>;tag=%[5]s\r\nTo: <sip:%[4]s@%[1]s>;tag=kam\r\nCall-ID: %[5]s\r\nCSeq: %[6]d REGISTER\r\n",
		pbxIP, src, sport, user, callID, cseq, status, reason)
	if status == 401 {
		s += fmt.Sprintf(`WWW-Authenticate: Digest realm="%s", nonce="%s", qop="auth"`+"\r\n", pbxIP, nonce)
	}
	return s + "Server: kamailio (5.6.3 (x86_64/linux))\r\nContent-Length: 0\r\n\r\n"
}

// readCapture returns the IP packets of a recorded capture, shifted so
// the first is at start.
func readCapture(t *testing.T, name, from string, start time.Time) []pkt {
	t.Helper()
	r, err := capture.Open(filepath.Join("..", "testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []pkt
	var first time.Time
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if first.IsZero() {
			first = rec.Time
		}
		out = append(out, pkt{at: start.Add(rec.Time.Sub(first)), data: slices.Clone(rec.Data), from: from, orig: rec.Index})
	}
}

// forgedWorld crafts the capture of the issue: the office (office.pcap,
// replayed every minute: its phones keep registering) and a trunk
// registering every minute with real challenges, while a forger sends,
// with each of their addresses, 1,000 REGISTERs with credentials (answered
// by Kamailio with 401 and a fresh challenge that goes to the victim, not
// to the forger) and 1,000 user scans (404), over ten minutes; and two real
// guessers from their own addresses (sipp-guess.pcap and svcrack.pcap).
func forgedWorld(t *testing.T) []pkt {
	t.Helper()
	t0 := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	var all []pkt
	add := func(at time.Time, from, src string, sport uint16, dst string, dport uint16, payload string) {
		all = append(all, pkt{at: at, data: udp4(t, src, sport, dst, dport, payload), from: from})
	}
	const rounds = 12 // a round a minute, past the forger's ten minutes
	for i := range rounds {
		start := t0.Add(time.Duration(i) * time.Minute)
		all = append(all, readCapture(t, "office.pcap", "office", start)...)
		// The trunk: REGISTER, 401, REGISTER answering it, 200.
		id, n := fmt.Sprint("trunk-", i), fmt.Sprint("trunk-nonce-", i)
		at := start.Add(500 * time.Millisecond)
		add(at, "trunk", trunkIP, 5060, pbxIP, 5060, sipRegister(trunkIP, 5060, "trunk1", id, 1, ""))
		add(at.Add(time.Millisecond), "pbx", pbxIP, 5060, trunkIP, 5060, kamailioReply(trunkIP, 5060, "trunk1", id, 1, 401, n))
		add(at.Add(2*time.Millisecond), "trunk", trunkIP, 5060, pbxIP, 5060, sipRegister(trunkIP, 5060, "trunk1", id, 2, n))
		add(at.Add(3*time.Millisecond), "pbx", pbxIP, 5060, trunkIP, 5060, kamailioReply(trunkIP, 5060, "trunk1", id, 2, 200, ""))
	}
	// The forger starts once both have registered, and keeps on for ten
	// minutes: 4,000 requests, 400 a minute, 100 a minute per victim and
	// kind, ten times failures_per_minute.
	const perKind = 1000
	step := 10 * time.Minute / (4 * perKind)
	at := t0.Add(2 * time.Second)
	for i := range perKind {
		for _, victim := range []string{officeIP, trunkIP} {
			id := fmt.Sprintf("forged-cred-%d@%s", i, victim)
			user := fmt.Sprint(1000 + i%20)
			add(at, "forger", victim, 5060, pbxIP, 5060, sipRegister(victim, 5060, user, id, 2, fmt.Sprintf("guessed-%d", i)))
			add(at.Add(time.Millisecond), "pbx", pbxIP, 5060, victim, 5060,
				kamailioReply(victim, 5060, user, id, 2, 401, fmt.Sprintf("fresh-%s-%d", victim, i)))
			at = at.Add(step)
			id = fmt.Sprintf("forged-scan-%d@%s", i, victim)
			user = fmt.Sprint(2000 + i) // no such user: 404
			add(at, "forger", victim, 5060, pbxIP, 5060, sipRegister(victim, 5060, user, id, 1, ""))
			add(at.Add(time.Millisecond), "pbx", pbxIP, 5060, victim, 5060, kamailioReply(victim, 5060, user, id, 1, 404, ""))
			at = at.Add(step)
		}
	}
	all = append(all, readCapture(t, "sipp-guess.pcap", "sipp-guess", t0.Add(2*time.Minute+100*time.Millisecond))...)
	all = append(all, readCapture(t, "svcrack.pcap", "svcrack", t0.Add(5*time.Minute+100*time.Millisecond))...)
	slices.SortStableFunc(all, func(a, b pkt) int { return a.at.Compare(b.at) })
	return all
}

func writePcap(t *testing.T, pkts []pkt) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "forged.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// index returns the 1-based position in pkts of the record orig of the
// capture from.
func index(t *testing.T, pkts []pkt, from string, orig int) int {
	t.Helper()
	for i, p := range pkts {
		if p.from == from && p.orig == orig {
			return i + 1
		}
	}
	t.Fatalf("no packet %d of %s", orig, from)
	return 0
}

// TestForgedSources: with a forger sending 2,000 credentialed REGISTERs
// and 2,000 user scans in the name of an office and a trunk, neither is
// ever blocked, and the real guessers are still blocked at exactly
// failures_per_minute. With bind_nonces off the same traffic blocks both
// victims: the test can tell the difference.
func TestForgedSources(t *testing.T) {
	pkts := forgedWorld(t)
	path := writePcap(t, pkts)
	cfg := policy.DefaultConfig()
	cfg.UserAgents = nil // svcrack says "friendly-scanner": judge it by its failures alone

	res, err := replay.Run(cfg, nil, path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packets != len(pkts) || res.Undecodable != 0 {
		t.Fatalf("replayed %d packets (%d undecodable) of %d", res.Packets, res.Undecodable, len(pkts))
	}
	blocked := map[string]replay.Block{}
	for _, b := range res.Blocks {
		if _, ok := blocked[b.IP]; ok {
			t.Errorf("%s blocked twice: %+v", b.IP, res.Blocks)
		}
		blocked[b.IP] = b
	}
	for _, victim := range []string{officeIP, trunkIP} {
		if b, ok := blocked[victim]; ok {
			t.Errorf("forged traffic blocked %s: %+v", victim, b)
		}
	}
	// sipp-guess: REGISTER, 401, REGISTER with credentials, 401 per
	// attempt; the 11th attempt's first packet (41) is dropped.
	// svcrack: one bare REGISTER and its 401, then guesses answered by
	// 401; the request after the 10th failure is its packet 23.
	for _, g := range []struct {
		ip, from string
		orig     int
	}{{guesserIP, "sipp-guess", 41}, {crackerIP, "svcrack", 23}} {
		b, ok := blocked[g.ip]
		if !ok || b.Reason != "failures" || b.Packet != index(t, pkts, g.from, g.orig) {
			t.Errorf("%s: block %+v, want failures at packet %d (its capture's %d)", g.from, b, index(t, pkts, g.from, g.orig), g.orig)
		}
	}
	if len(res.Blocks) != 2 {
		t.Errorf("blocks %+v, want the two guessers only", res.Blocks)
	}
	// Both victims are proven (they register): the 2,000 forged
	// credentials and the 2,000 forged scans are all refused.
	if res.UnboundCredentials != 2000 || res.ProvenRefused != 4000 {
		t.Errorf("unbound credentials %d, failures refused for a proven source %d; want 2000 and 4000", res.UnboundCredentials, res.ProvenRefused)
	}
	// Every drop is a guesser's, after its block.
	if res.Dropped != res.DroppedByReason["failures"]+res.DroppedByReason["dynamic"] || res.Dropped == 0 {
		t.Errorf("drops %+v", res.DroppedByReason)
	}
	t.Logf("%d packets: %d blocks, unbound credentials %d, failures refused for a proven source %d",
		res.Packets, len(res.Blocks), res.UnboundCredentials, res.ProvenRefused)

	// The same traffic without nonce binding: both victims blocked.
	cfg.BindNonces = false
	old, err := replay.Run(cfg, nil, path)
	if err != nil {
		t.Fatal(err)
	}
	victims := 0
	for _, b := range old.Blocks {
		if b.IP == officeIP || b.IP == trunkIP {
			victims++
		}
	}
	if victims != 2 {
		t.Errorf("bind_nonces off: %d victims blocked, want both: %+v", victims, old.Blocks)
	}
}

// TestForgedSourcesDrop: with unbound_nonce = "drop" the forged
// credentialed requests never reach the PBX, and still nobody innocent is
// blocked.
func TestForgedSourcesDrop(t *testing.T) {
	pkts := forgedWorld(t)
	cfg := policy.DefaultConfig()
	cfg.UserAgents = nil
	cfg.DropUnbound = true
	res, err := replay.Run(cfg, nil, writePcap(t, pkts))
	if err != nil {
		t.Fatal(err)
	}
	if n := res.DroppedByReason["unbound_nonce"]; n != 2000 {
		t.Errorf("dropped for unbound_nonce: %d, want 2000", n)
	}
	for _, b := range res.Blocks {
		if b.IP == officeIP || b.IP == trunkIP {
			t.Errorf("victim blocked: %+v", b)
		}
	}
	if len(res.Blocks) != 2 {
		t.Errorf("blocks %+v, want the two guessers", res.Blocks)
	}
}
