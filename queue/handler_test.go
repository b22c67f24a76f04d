package queue

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

var (
	pbx      = netip.MustParseAddr("198.51.100.1")
	denied   = netip.MustParseAddr("203.0.113.7")
	allowed  = netip.MustParseAddr("192.0.2.10")
	scanner  = netip.MustParseAddr("203.0.113.66")
	stranger = netip.MustParseAddr("203.0.113.20")
)

// testEngine is the real policy engine: 203.0.113.7 denied, 192.0.2.10
// allowed, 203.0.113.66 blocked dynamically (it sent a scanner's
// User-Agent). Its events are drained, as the daemon does.
func testEngine(tb testing.TB) *policy.Engine {
	tb.Helper()
	cfg := policy.DefaultConfig()
	cfg.UserAgents = []string{"friendly-scanner"}
	e := policy.New(cfg, nil)
	allow, deny := new(bart.Lite), new(bart.Lite)
	allow.Insert(netip.PrefixFrom(allowed, 32))
	deny.Insert(netip.PrefixFrom(denied, 32))
	e.SetLists(allow, deny)
	reg := []byte("REGISTER sip:198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-1\r\n" +
		"From: <sip:1@198.51.100.1>;tag=1\r\nTo: <sip:1@198.51.100.1>\r\nCall-ID: s1\r\nCSeq: 1 REGISTER\r\n" +
		"User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n")
	p := &packet.Parsed{Src: scanner, Dst: pbx, SrcPort: 5060, DstPort: 5060, Proto: packet.UDP, Payload: reg}
	if d := e.Decide(p); d.Verdict != policy.Drop {
		tb.Fatalf("scanner not blocked: %+v", d)
	}
	return e
}

// testReader is a reader with no socket: the tests hand it datagrams.
func testReader(d Decider) *reader {
	return New(Config{}, d, nil).readers[0]
}

// handle runs the packet path of one datagram, up to the encoded verdicts,
// with process's bookkeeping: a batch of one, the latency's worst case.
func handle(r *reader, dgram []byte) []byte {
	start := time.Now()
	r.datagram(dgram)
	out := r.v.take()
	r.observe(start, time.Now())
	r.publish()
	return out
}

func registerFrom(src netip.Addr) []byte {
	return udp4(src, pbx, 5060, 5060, []byte(testRegister))
}

func TestJudge(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		name        string
		hook        uint8
		payload     []byte
		verdict     uint32
		undecodable bool
	}{
		{"denied", 1, registerFrom(denied), nfDrop, false},
		{"blocked", 1, registerFrom(scanner), nfDrop, false},
		{"allowed", 1, registerFrom(allowed), nfAccept, false},
		{"unknown source registers", 1, registerFrom(stranger), nfAccept, false},
		{"denied, IP header cut short: judged by address", 1, registerFrom(denied)[:24], nfDrop, true},
		{"denied, UDP header cut short", 1, registerFrom(denied)[:24], nfDrop, true},
		{"no payload (copy mode none)", 1, nil, nfAccept, true},
		{"not IP", 1, []byte{0x12, 0, 0, 0}, nfAccept, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testReader(e)
			if tt.name == "denied, UDP header cut short" {
				// Total length says 24: the IP header is whole, UDP is not.
				tt.payload[3] = 24
			}
			got := decodeVerdicts513(t, handle(r, packetMsg(uint32(i+1), tt.hook, tt.payload)))
			if len(got) != 1 || got[0] != [2]uint32{uint32(i + 1), tt.verdict} {
				t.Fatalf("verdicts %v, want id %d verdict %d", got, i+1, tt.verdict)
			}
			h := r.snapshot()
			if h.Packets != 1 || (h.Undecodable == 1) != tt.undecodable {
				t.Fatalf("counters %+v", h)
			}
		})
	}
}

// decodeVerdicts513 decodes verdicts of a reader on queue 0.
func decodeVerdicts513(t *testing.T, b []byte) [][2]uint32 {
	t.Helper()
	for i := 0; i+verdictMsgLen <= len(b); i += verdictMsgLen {
		b[i+18], b[i+19] = 2, 1 // queue 513, as decodeVerdicts expects
	}
	return decodeVerdicts(t, b)
}

// TestLocalFromHook: the OUTPUT hook marks the packet Local.
func TestLocalFromHook(t *testing.T) {
	var seen []bool
	d := deciderFunc(func(p *packet.Parsed) policy.Decision {
		seen = append(seen, p.Local)
		return policy.Decision{}
	})
	r := testReader(d)
	dg := append(packetMsg(1, 1, registerFrom(stranger)), packetMsg(2, hookLocalOut, registerFrom(pbx))...)
	dg = append(dg, packetMsg(3, 4 /* POST_ROUTING */, registerFrom(pbx))...)
	handle(r, dg)
	if len(seen) != 3 || seen[0] || !seen[1] || seen[2] {
		t.Fatalf("Local per packet %v, want [false true false]", seen)
	}
}

type deciderFunc func(*packet.Parsed) policy.Decision

func (f deciderFunc) Decide(p *packet.Parsed) policy.Decision { return f(p) }

// TestLostAndErrors: id gaps count as lost; kernel complaints and
// malformed messages count as errors; a bind answer is recognised.
func TestLostAndErrors(t *testing.T) {
	r := testReader(testEngine(t))
	r.bindSeq = 42
	dg := append(packetMsg(1, 1, registerFrom(denied)), packetMsg(5, 1, registerFrom(denied))...)
	dg = append(dg, errorMsg(-2 /* ENOENT */, 0)...)
	dg = append(dg, errorMsg(0, 42)...)
	handle(r, dg)
	handle(r, []byte{1, 2, 3})
	handle(r, packetMsg(6, 1, registerFrom(denied)))
	h := r.snapshot()
	if h.Packets != 3 || h.Dropped != 3 || h.Lost != 3 || h.Errors != 2 || !r.bindDone || r.bindErr != nil {
		t.Fatalf("counters %+v bindDone %v bindErr %v", h, r.bindDone, r.bindErr)
	}
	r.bindSeq, r.bindDone = 43, false
	handle(r, errorMsg(-16 /* EBUSY */, 43))
	if !r.bindDone || !isInUse(r.bindErr) {
		t.Fatalf("bind refusal: done %v err %v", r.bindDone, r.bindErr)
	}
}

// TestNoAllocs: the packet path of a listed or blocked source, from the
// netlink datagram to the encoded verdict, allocates nothing.
func TestNoAllocs(t *testing.T) {
	e := testEngine(t)
	for _, tc := range []struct {
		name string
		src  netip.Addr
	}{{"denied", denied}, {"blocked", scanner}, {"allowed", allowed}} {
		t.Run(tc.name, func(t *testing.T) {
			r := testReader(e)
			dg := packetMsg(1, 1, registerFrom(tc.src))
			// A datagram of eight, as a batch under load brings.
			var batch []byte
			for i := range 8 {
				batch = append(batch, packetMsg(uint32(i+2), 1, registerFrom(tc.src))...)
			}
			handle(r, dg) // grow the verdict buffer once
			id := uint32(100)
			if n := testing.AllocsPerRun(1000, func() {
				id++
				setID(dg, id)
				handle(r, dg)
			}); n != 0 {
				t.Errorf("%v allocs per packet, want 0", n)
			}
			if n := testing.AllocsPerRun(1000, func() { handle(r, batch) }); n != 0 {
				t.Errorf("%v allocs per batch of 8, want 0", n)
			}
		})
	}
}

// setID rewrites the packet id of a packetMsg.
func setID(msg []byte, id uint32) {
	off := nlmsgHdrLen + nfgenHdrLen + nlaHdrLen
	msg[off], msg[off+1], msg[off+2], msg[off+3] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
}

// BenchmarkHandler measures the packet path without the system calls.
func BenchmarkHandler(b *testing.B) {
	e := testEngine(b)
	for _, tc := range []struct {
		name string
		src  netip.Addr
	}{{"denied", denied}, {"blocked", scanner}, {"allowed", allowed}, {"register_parsed", stranger}} {
		b.Run(tc.name, func(b *testing.B) {
			r := testReader(e)
			dg := packetMsg(1, 1, registerFrom(tc.src))
			b.ReportAllocs()
			id := uint32(0)
			for b.Loop() {
				id++
				setID(dg, id)
				handle(r, dg)
			}
		})
	}
}
