package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/sipprot/sipprot/packet"
)

func TestAddressLists(t *testing.T) {
	tests := []struct {
		name        string
		allow, deny []string
		src         string
		wantV       Verdict
		wantR       Reason
	}{
		{"unlisted", nil, nil, "198.51.100.1", Accept, ReasonNone},
		{"denied address", nil, []string{"198.51.100.1/32"}, "198.51.100.1", Drop, ReasonDeny},
		{"denied network", nil, []string{"198.51.100.0/24"}, "198.51.100.77", Drop, ReasonDeny},
		{"allow beats deny", []string{"198.51.100.7/32"}, []string{"198.51.100.0/24"}, "198.51.100.7", Accept, ReasonAllow},
		{"allowed network", []string{"192.0.2.0/24"}, nil, "192.0.2.200", Accept, ReasonAllow},
		{"denied ipv6 network", nil, []string{"2001:db8:bad::/48"}, "2001:db8:bad::1", Drop, ReasonDeny},
		{"ipv6 outside denied network", nil, []string{"2001:db8:bad::/48"}, "2001:db8:900d::1", Accept, ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.lists(tt.allow, tt.deny)
			dst := pbx
			if netip.MustParseAddr(tt.src).Is6() {
				dst = pbxV6
			}
			d := w.send(udp(tt.src, 5060, dst, 5060, register(tt.src, "c1", 1, "Yealink", false)))
			want(t, d, tt.wantV, tt.wantR)
		})
	}
}

func TestAllowBeatsEverything(t *testing.T) {
	w := newWorld(t, nil)
	w.lists([]string{"198.51.100.9/32"}, []string{"198.51.100.9/32"})
	// A scanner User-Agent from an allowed source is not even parsed.
	d := w.send(udp("198.51.100.9", 5060, pbx, 5060, register("198.51.100.9", "c", 1, "friendly-scanner", false)))
	want(t, d, Accept, ReasonAllow)
	if ev := w.blockEvents(); len(ev) != 0 {
		t.Fatalf("allowed source blocked: %+v", ev)
	}
}

func TestUserAgent(t *testing.T) {
	tests := []struct {
		ua      string
		blocked bool
	}{
		{"friendly-scanner", true},
		{"Friendly-Scanner", true},
		{"  FRIENDLY-SCANNER  ", true},
		{"sipvicious 0.3.4", true},
		{"my SiPvIcIoUs build", true},
		{"sipcli/v1.8", true},
		{"Yealink SIP-T46S 66.86.0.15", false},
		{"friendly scanner", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.ua), func(t *testing.T) {
			w := newWorld(t, nil)
			d := w.send(udp("198.51.100.66", 5070, pbx, 5060, register("198.51.100.66", "c", 1, tt.ua, false)))
			if !tt.blocked {
				want(t, d, Accept, ReasonNone)
				return
			}
			want(t, d, Drop, ReasonUserAgent)
			ev := w.blockEvents()
			if len(ev) != 1 || ev[0].Reason != ReasonUserAgent || ev[0].UserAgent != strings.TrimSpace(tt.ua) || ev[0].Count != 1 {
				t.Fatalf("block events = %+v", ev)
			}
			// Every later packet of the source is dropped without a parse.
			d = w.send(udp("198.51.100.66", 5070, pbx, 5060, "not even SIP"))
			want(t, d, Drop, ReasonDynamic)
		})
	}
}

func TestFailures(t *testing.T) {
	const src = "198.51.100.77"
	t.Run("request after the Nth failure is dropped", func(t *testing.T) {
		w := newWorld(t, nil)
		for i := 1; i <= 10; i++ {
			want(t, w.attempt(src, 401, "Zoiper"), Accept, ReasonNone)
		}
		want(t, w.attempt(src, 401, "Zoiper"), Drop, ReasonFailures)
		ev := w.blockEvents()
		if len(ev) != 1 || ev[0].Reason != ReasonFailures || ev[0].UserAgent != "Zoiper" {
			t.Fatalf("block events = %+v", ev)
		}
		want(t, w.attempt(src, 401, "Zoiper"), Drop, ReasonDynamic)
	})
	t.Run("403 and 404 count without credentials", func(t *testing.T) {
		w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 2 })
		for _, st := range []int{403, 404} {
			w.seq++
			id := fmt.Sprint("x", w.seq)
			w.send(udp(src, 5060, pbx, 5060, register(src, id, 1, "", false)))
			w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(st, id, 1, "REGISTER")))
		}
		want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "y", 1, "", false))), Drop, ReasonFailures)
	})
	t.Run("first challenge is not a failure", func(t *testing.T) {
		w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1 })
		for i := range 5 {
			id := fmt.Sprint("phone-", i)
			want(t, w.send(udp(src, 5060, pbx, 5060, register(src, id, 1, "Yealink", false))), Accept, ReasonNone)
			w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(401, id, 1, "REGISTER")))
			want(t, w.send(udp(src, 5060, pbx, 5060, register(src, id, 2, "Yealink", true))), Accept, ReasonNone)
			w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(200, id, 2, "REGISTER")))
		}
	})
	t.Run("unmatched and retransmitted responses count once or not at all", func(t *testing.T) {
		w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 2 })
		w.challenged(src)
		// A 403 for a request never seen is ignored.
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(403, "ghost", 1, "REGISTER")))
		w.send(udp(src, 5060, pbx, 5060, register(src, "a", 1, "", true)))
		for range 3 { // retransmissions of one final response
			w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(403, "a", 1, "REGISTER")))
		}
		want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "b", 1, "", true))), Accept, ReasonNone)
	})
	t.Run("response must match client, Call-ID and CSeq", func(t *testing.T) {
		w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1 })
		w.challenged(src)
		w.send(udp(src, 5060, pbx, 5060, register(src, "a", 7, "", true)))
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(403, "a", 8, "REGISTER")))
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr("198.51.100.78"), 5060, response(403, "a", 7, "REGISTER")))
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(403, "b", 7, "REGISTER")))
		want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "c", 1, "", true))), Accept, ReasonNone)
	})
	t.Run("source is the IP source, not the Via", func(t *testing.T) {
		w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1 })
		w.challenged(src)
		w.challenged("192.0.2.1")
		// The request claims 192.0.2.1 in its Via and Contact.
		w.send(udp(src, 5060, pbx, 5060, register("192.0.2.1", "a", 1, "", true)))
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(403, "a", 1, "REGISTER")))
		want(t, w.send(udp(src, 5060, pbx, 5060, register("192.0.2.1", "b", 1, "", true))), Drop, ReasonFailures)
		want(t, w.send(udp("192.0.2.1", 5060, pbx, 5060, register("192.0.2.1", "c", 1, "", true))), Accept, ReasonNone)
	})
}

func TestFailureWindow(t *testing.T) {
	const src = "198.51.100.77"
	tests := []struct {
		name  string
		gap   time.Duration // from the first failure to the next request
		wantR Reason
	}{
		{"oldest failure just inside the minute", time.Minute - time.Nanosecond, ReasonFailures},
		{"oldest failure exactly a minute old", time.Minute, ReasonNone},
		{"long after", 10 * time.Minute, ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.attempt(src, 401, "")
			w.clock.Advance(30 * time.Second)
			for range 9 {
				w.attempt(src, 401, "")
			}
			w.clock.Set(t0.Add(tt.gap))
			d := w.send(udp(src, 5060, pbx, 5060, register(src, "next", 1, "", true)))
			if tt.wantR == ReasonNone {
				want(t, d, Accept, ReasonNone)
			} else {
				want(t, d, Drop, tt.wantR)
			}
		})
	}
}

func TestBlockTime(t *testing.T) {
	const src = "198.51.100.66"
	w := newWorld(t, nil) // block_time 10m
	scan := func() Decision {
		return w.send(udp(src, 5060, pbx, 5060, register(src, "s", 1, "friendly-scanner", false)))
	}
	want(t, scan(), Drop, ReasonUserAgent)
	w.clock.Advance(9 * time.Minute)
	want(t, scan(), Drop, ReasonDynamic) // restarts the clock: blocked until 19m
	w.clock.Advance(9*time.Minute + 59*time.Second)
	want(t, w.send(udp(src, 5060, pbx, 5060, "junk")), Drop, ReasonDynamic) // any packet restarts it
	w.clock.Advance(10 * time.Minute)
	// Quiet for block_time: lifted, and the unblock leaves as an event.
	d := w.send(udp(src, 5060, pbx, 5060, register(src, "ok", 1, "Yealink", false)))
	want(t, d, Accept, ReasonNone)
	var unblocks int
	for _, ev := range w.events() {
		if ev.Kind == EventUnblock && ev.Addr == netip.MustParseAddr(src) {
			unblocks++
		}
	}
	if unblocks != 1 {
		t.Fatalf("unblock events = %d, want 1", unblocks)
	}
}

func TestThresholdMakesPermanent(t *testing.T) {
	const src = "198.51.100.66"
	w := newWorld(t, func(c *Config) { c.BlockThreshold = 3; c.BlockTime = time.Minute })
	for i := 1; i <= 3; i++ {
		d := w.send(udp(src, 5060, pbx, 5060, register(src, "s", i, "sipcli", false)))
		want(t, d, Drop, ReasonUserAgent)
		ev := w.blockEvents()
		if len(ev) != 1 || ev[0].Count != i || ev[0].Permanent != (i == 3) {
			t.Fatalf("block %d: events = %+v", i, ev)
		}
		w.clock.Advance(2 * time.Minute)
	}
	w.clock.Advance(24 * time.Hour)
	want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "later", 1, "Yealink", false))), Drop, ReasonDynamic)
	if n := w.e.Sweep(); n != 0 {
		t.Fatalf("sweep lifted %d permanent blocks", n)
	}
	if !w.e.Unblock(netip.MustParseAddr(src)) {
		t.Fatal("Unblock: not blocked")
	}
	want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "after", 1, "Yealink", false))), Accept, ReasonNone)
}

func TestSweep(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.BlockTime = time.Minute })
	for _, src := range []string{"198.51.100.1", "198.51.100.2", "2001:db8::66"} {
		dst := pbx
		if netip.MustParseAddr(src).Is6() {
			dst = pbxV6
		}
		w.send(udp(src, 5060, dst, 5060, register(src, "s", 1, "friendly-scanner", false)))
	}
	if n := w.e.Sweep(); n != 0 {
		t.Fatalf("early sweep lifted %d", n)
	}
	if _, ok := w.e.Blocked(netip.MustParseAddr("2001:db8::66")); !ok {
		t.Fatal("IPv6 source not blocked")
	}
	w.clock.Advance(time.Minute)
	if n := w.e.Sweep(); n != 3 {
		t.Fatalf("sweep lifted %d, want 3", n)
	}
}

func TestFlood(t *testing.T) {
	const src = "198.51.100.50"
	w := newWorld(t, func(c *Config) { c.RequestsPerSecond = 5 })
	for i := range 5 {
		want(t, w.send(udp(src, 5060, pbx, 5060, register(src, fmt.Sprint(i), 1, "", false))), Accept, ReasonNone)
	}
	want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "6", 1, "", false))), Drop, ReasonFlood)
	// Responses are not requests: the PBX is never capped.
	for i := range 20 {
		want(t, w.send(udp(pbx.String(), 5060, netip.MustParseAddr("198.51.100.51"), 5060, response(200, fmt.Sprint(i), 1, "REGISTER"))), Accept, ReasonNone)
	}
	t.Run("off by default", func(t *testing.T) {
		w := newWorld(t, nil)
		for i := range 1000 {
			want(t, w.send(udp(src, 5060, pbx, 5060, register(src, fmt.Sprint(i), 1, "", false))), Accept, ReasonNone)
		}
	})
}

func TestTFTP(t *testing.T) {
	const src = "198.51.100.69"
	e := newWorld(t, nil)
	send := func() Decision { return e.send(udp(src, 40000, pbx, 69, "\x00\x01file\x00octet\x00")) }
	for range 100 {
		want(t, send(), Accept, ReasonNone)
	}
	want(t, send(), Drop, ReasonTFTP)
	e.clock.Advance(6 * time.Second) // 10/minute: one token back
	want(t, send(), Accept, ReasonNone)
	want(t, send(), Drop, ReasonTFTP)
	// No block: the source's SIP still passes.
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "c", 1, "", false))), Accept, ReasonNone)
	t.Run("disabled", func(t *testing.T) {
		e := newWorld(t, func(c *Config) { c.TFTP = false })
		for range 200 {
			want(t, e.send(udp(src, 40000, pbx, 69, "x")), Accept, ReasonNone)
		}
	})
}

func TestFragments(t *testing.T) {
	e := newWorld(t, nil)
	e.lists(nil, []string{"198.51.100.1/32"})
	frag := func(src string) *packet.Parsed {
		return &packet.Parsed{Src: netip.MustParseAddr(src), Dst: pbx, Proto: packet.UDP, Fragment: true}
	}
	want(t, e.send(frag("198.51.100.1")), Drop, ReasonDeny)
	want(t, e.send(frag("198.51.100.2")), Accept, ReasonNone)
}

func TestMalformed(t *testing.T) {
	for _, dropIt := range []bool{false, true} {
		t.Run(fmt.Sprint("drop_malformed=", dropIt), func(t *testing.T) {
			e := newWorld(t, func(c *Config) { c.DropMalformed = dropIt })
			d := e.send(udp("198.51.100.3", 5060, pbx, 5060, "\x00\x01\x02 garbage"))
			if dropIt {
				want(t, d, Drop, ReasonMalformed)
			} else {
				want(t, d, Accept, ReasonNone)
			}
			// Keep-alives are not malformed.
			want(t, e.send(udp("198.51.100.3", 5060, pbx, 5060, "\r\n\r\n")), Accept, ReasonNone)
			if got := e.e.Stats().Malformed; got != 1 {
				t.Fatalf("malformed = %d, want 1", got)
			}
			// Address rules still apply to the malformed source.
			e.lists(nil, []string{"198.51.100.3/32"})
			want(t, e.send(udp("198.51.100.3", 5060, pbx, 5060, "garbage")), Drop, ReasonDeny)
		})
	}
}

func TestNotSIPPortsPass(t *testing.T) {
	e := newWorld(t, func(c *Config) { c.DropMalformed = true })
	want(t, e.send(udp("198.51.100.3", 40000, pbx, 53, "dns?")), Accept, ReasonNone)
	e2 := newWorld(t, func(c *Config) { c.TCP = false })
	p := udp("198.51.100.3", 40000, pbx, 5060, register("198.51.100.3", "a", 1, "friendly-scanner", false))
	p.Proto = packet.TCP
	want(t, e2.send(p), Accept, ReasonNone)
}

func TestCompactHeaders(t *testing.T) {
	const src = "198.51.100.77"
	e := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1 })
	req := "REGISTER sip:203.0.113.10 SIP/2.0\r\nv: SIP/2.0/UDP 198.51.100.77:5060;branch=z9hG4bK1\r\n" +
		"f: <sip:1001@203.0.113.10>;tag=1\r\nt: <sip:1001@203.0.113.10>\r\ni: compact-1\r\nCSeq: 4 REGISTER\r\n" +
		"m: <sip:1001@198.51.100.77>\r\nAuthorization: Digest username=\"1001\", nonce=\"abc\"\r\nl: 0\r\n\r\n"
	resp := "SIP/2.0 401 Unauthorized\r\nv: SIP/2.0/UDP 198.51.100.77:5060;branch=z9hG4bK1\r\n" +
		"f: <sip:1001@203.0.113.10>;tag=1\r\nt: <sip:1001@203.0.113.10>;tag=2\r\ni: compact-1\r\nCSeq: 4 REGISTER\r\nl: 0\r\n\r\n"
	e.challenged(src)
	want(t, e.send(udp(src, 5060, pbx, 5060, req)), Accept, ReasonNone)
	e.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, resp))
	want(t, e.send(udp(src, 5060, pbx, 5060, req)), Drop, ReasonFailures)
}

func tcpSeg(src string, seq uint32, payload string) *packet.Parsed {
	p := udp(src, 40001, pbx, 5060, payload)
	p.Proto = packet.TCP
	p.Seq = seq
	p.TCPFlags = packet.FlagACK | packet.FlagPSH
	return p
}

func TestTCP(t *testing.T) {
	const src = "198.51.100.66"
	scan := register(src, "t1", 1, "friendly-scanner", false)
	good := register(src, "t0", 1, "Yealink", false)
	t.Run("split message", func(t *testing.T) {
		e := newWorld(t, nil)
		cut := 40 // inside the headers, before User-Agent
		want(t, e.send(tcpSeg(src, 1000, scan[:cut])), Accept, ReasonNone)
		want(t, e.send(tcpSeg(src, 1000+uint32(cut), scan[cut:])), Drop, ReasonUserAgent)
	})
	t.Run("coalesced messages", func(t *testing.T) {
		e := newWorld(t, nil)
		want(t, e.send(tcpSeg(src, 1, good+scan)), Drop, ReasonUserAgent)
		if got := e.e.Stats().SIPMessages; got != 2 {
			t.Fatalf("sip messages = %d, want 2", got)
		}
	})
	t.Run("three segments, decided on the one that completes the headers", func(t *testing.T) {
		e := newWorld(t, nil)
		msg := "OPTIONS sip:203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.66:40001;branch=z9hG4bK9\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: tcp3\r\nCSeq: 1 OPTIONS\r\nUser-Agent: sipvicious\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789"
		// Cut in the start line, then in the headers; the third segment
		// completes the headers and carries the body.
		a, b := 10, 120
		want(t, e.send(tcpSeg(src, 1, msg[:a])), Accept, ReasonNone)
		want(t, e.send(tcpSeg(src, 1+uint32(a), msg[a:b])), Accept, ReasonNone)
		want(t, e.send(tcpSeg(src, 1+uint32(b), msg[b:])), Drop, ReasonUserAgent)
	})
}

// TestDropsAreNotEvents: a flood from deny-listed sources leaves no event
// and cannot crowd out the blocks made meanwhile; its packets are counted
// by reason and by source for the store to sample.
func TestDropsAreNotEvents(t *testing.T) {
	e := newWorld(t, func(c *Config) { c.EventQueue = 100 })
	e.lists(nil, []string{"198.51.100.0/24"})
	for i := range 100 {
		for j := range 1000 {
			src := fmt.Sprintf("198.51.100.%d", j%200)
			e.send(udp(src, 5060, pbx, 5060, "x"))
		}
		src := fmt.Sprintf("2001:db8::%x", i+1)
		want(t, e.send(udp(src, 5060, pbxV6, 5060, register(src, fmt.Sprint(i), 1, "sipcli", false))), Drop, ReasonUserAgent)
	}
	ev := e.events()
	if len(ev) != 100 {
		t.Fatalf("%d events, want the 100 blocks", len(ev))
	}
	for i, v := range ev {
		if v.Kind != EventBlock || v.UserAgent != "sipcli" || v.Addr != netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)) {
			t.Fatalf("event %d = %+v", i, v)
		}
	}
	if lost := e.e.Stats().EventsLost; lost != 0 {
		t.Fatalf("events lost = %d", lost)
	}
	var s DropSample
	e.e.SampleDrops(&s)
	if s.ByReason[ReasonDeny] != 100_000 || s.Total() != 100_000 {
		t.Fatalf("sampled %d deny drops (%d in all), want 100000", s.ByReason[ReasonDeny], s.Total())
	}
	if n := s.BySource[netip.MustParseAddr("198.51.100.7")]; n != 500 {
		t.Fatalf("198.51.100.7 dropped %d, want 500", n)
	}
	// The next sample holds only what came after.
	e.send(udp("198.51.100.7", 5060, pbx, 5060, "x"))
	e.e.SampleDrops(&s)
	if s.Total() != 1 || len(s.BySource) != 1 || s.BySource[netip.MustParseAddr("198.51.100.7")] != 1 {
		t.Fatalf("second sample = %d drops from %v", s.Total(), s.BySource)
	}
}

// TestEventQueueBound: a consumer that stops reading costs the events
// beyond the bound, counted, and never makes a verdict wait.
func TestEventQueueBound(t *testing.T) {
	e := newWorld(t, func(c *Config) { c.EventQueue = 1 })
	for i := range 3 {
		src := fmt.Sprintf("198.51.100.%d", i+1)
		e.send(udp(src, 5060, pbx, 5060, register(src, fmt.Sprint(i), 1, "sipcli", false)))
	}
	select {
	case <-e.e.Ready():
	default:
		t.Fatal("Ready did not signal the waiting event")
	}
	if ev := e.events(); len(ev) != 1 || ev[0].Addr.String() != "198.51.100.1" {
		t.Fatalf("events = %+v, want the first block", ev)
	}
	if lost := e.e.Stats().EventsLost; lost != 2 {
		t.Fatalf("events lost = %d, want 2", lost)
	}
}

// TestDropSourcesBounded: a spoofed flood from more sources than the
// tally holds still counts every packet in the totals.
func TestDropSourcesBounded(t *testing.T) {
	e := newWorld(t, nil)
	e.lists(nil, []string{"2001:db8::/32"})
	const n = 100_000
	for i := range n {
		e.send(udp(fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff), 5060, pbxV6, 5060, "x"))
	}
	var s DropSample
	e.e.SampleDrops(&s)
	if s.ByReason[ReasonDeny] != n {
		t.Fatalf("deny drops = %d, want %d", s.ByReason[ReasonDeny], n)
	}
	if len(s.BySource) > shardCount*dropSourcesPerShard || len(s.BySource) < shardCount {
		t.Fatalf("%d sources tallied, bound %d", len(s.BySource), shardCount*dropSourcesPerShard)
	}
}

// TestBlockKeepsUserAgentAndCountry: the engine's own block state has the
// attack's User-Agent and country, before any consumer reads an event.
func TestBlockKeepsUserAgentAndCountry(t *testing.T) {
	const src = "198.51.100.66"
	e := newWorld(t, nil)
	e.e.SetCountryLookup(fakeGeo{src: "YY"})
	e.send(udp(src, 5060, pbx, 5060, register(src, "d", 1, "sipcli 1.0", false)))
	b, ok := e.e.Blocked(netip.MustParseAddr(src))
	if !ok || b.UserAgent != "sipcli 1.0" || b.Country != "YY" {
		t.Fatalf("Blocked = %+v, %v", b, ok)
	}
	if all := e.e.Blocks(); len(all) != 1 || all[0].UserAgent != "sipcli 1.0" || all[0].Country != "YY" {
		t.Fatalf("Blocks = %+v", all)
	}
	// A restart keeps them too.
	r := newWorld(t, nil)
	r.e.Restore(b)
	if got, ok := r.e.Blocked(b.Addr); !ok || got.UserAgent != b.UserAgent || got.Country != b.Country {
		t.Fatalf("restored = %+v, %v", got, ok)
	}
	// A forged giant User-Agent is kept bounded.
	long := strings.Repeat("sipcli", 10_000)
	e.send(udp("198.51.100.67", 5060, pbx, 5060, register("198.51.100.67", "e", 1, long, false)))
	if b, _ := e.e.Blocked(netip.MustParseAddr("198.51.100.67")); len(b.UserAgent) != maxUserAgent {
		t.Fatalf("kept a %d-byte User-Agent", len(b.UserAgent))
	}
}

// TestPublishIsOneSwap: a Publish with rules and lists changes both in
// one step, and fields it does not set keep what is in force.
func TestPublishIsOneSwap(t *testing.T) {
	const src = "198.51.100.9"
	e := newWorld(t, nil)
	e.lists(nil, []string{"198.51.100.0/24"})
	before := e.e.snap.Load()
	cfg := DefaultConfig()
	cfg.UserAgents = []string{"zoiper"}
	allow := new(bart.Lite)
	allow.Insert(netip.MustParsePrefix(src + "/32"))
	e.e.Publish(Settings{Config: &cfg, Lists: true, Allow: allow, Deny: before.deny})
	after := e.e.snap.Load()
	if after == before || after.allow != allow || after.deny != before.deny || after.rules == before.rules {
		t.Fatal("Publish did not swap rules and lists together")
	}
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "a", 1, "Zoiper", false))), Accept, ReasonAllow)
	e.e.SetCountryLookup(fakeGeo{})
	if s := e.e.snap.Load(); s.rules != after.rules || s.allow != allow || s.geo == nil {
		t.Fatal("a country change lost the rules or lists")
	}
}

func TestBoundedTables(t *testing.T) {
	e := newWorld(t, func(c *Config) {
		c.MaxSources, c.MaxBlocks, c.MaxTransactions = 640, 640, 640
		c.RequestsPerSecond = 100
	})
	for i := range 20000 {
		src := fmt.Sprintf("2001:db8::%x", i)
		e.send(udp(src, 5060, pbxV6, 5060, register(src, fmt.Sprint(i), 1, "", false)))
		e.send(udp(src, 5060, pbxV6, 5060, register(src, fmt.Sprint(i), 2, "sipcli", false)))
	}
	for i := range e.e.shards {
		sh := &e.e.shards[i]
		if sh.sources.Len() > 10 || sh.blocks.Len() > 10 || sh.txns.Len() > 10 {
			t.Fatalf("shard %d over its bound: %d sources, %d blocks, %d txns", i, sh.sources.Len(), sh.blocks.Len(), sh.txns.Len())
		}
	}
}

func TestLocalRequestsNeverJudged(t *testing.T) {
	const trunk = "198.51.100.200"
	e := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1; c.RequestsPerSecond = 1 })
	for i := range 5 {
		id := fmt.Sprint("out-", i)
		req := udp(pbx.String(), 5060, netip.MustParseAddr(trunk), 5060, register(pbx.String(), id, 1, "friendly-scanner", true))
		req.Local = true
		want(t, e.send(req), Accept, ReasonNone)
		e.send(udp(trunk, 5060, pbx, 5060, response(403, id, 1, "REGISTER")))
	}
	if _, ok := e.e.Blocked(pbx); ok {
		t.Fatal("the host's own address was blocked")
	}
}

type fakeGeo map[string]string

func (g fakeGeo) Country(a netip.Addr) (string, bool) {
	cc, ok := g[a.String()]
	return cc, ok
}

func TestCountry(t *testing.T) {
	e := newWorld(t, func(c *Config) { c.BlockedCountries = []string{"xx"} })
	src := "198.51.100.5"
	// No database yet: nothing is blocked by country.
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "a", 1, "", false))), Accept, ReasonNone)
	e.e.SetCountryLookup(fakeGeo{src: "XX", "198.51.100.6": "YY", "198.51.100.66": "YY"})
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "b", 1, "", false))), Drop, ReasonCountry)
	want(t, e.send(udp("198.51.100.6", 5060, pbx, 5060, register("198.51.100.6", "c", 1, "", false))), Accept, ReasonNone)
	// Blocks carry the source's country.
	e.send(udp("198.51.100.66", 5060, pbx, 5060, register("198.51.100.66", "d", 1, "sipcli", false)))
	if ev := e.blockEvents(); len(ev) != 1 || ev[0].Country != "YY" {
		t.Fatalf("block events = %+v", ev)
	}
}

func TestReloadKeepsState(t *testing.T) {
	const src = "198.51.100.66"
	e := newWorld(t, nil)
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "a", 1, "sipcli", false))), Drop, ReasonUserAgent)
	cfg := DefaultConfig()
	cfg.UserAgents = []string{"zoiper"}
	e.e.Reload(cfg)
	want(t, e.send(udp(src, 5060, pbx, 5060, "x")), Drop, ReasonDynamic)
	want(t, e.send(udp("198.51.100.7", 5060, pbx, 5060, register("198.51.100.7", "b", 1, "sipcli", false))), Accept, ReasonNone)
	want(t, e.send(udp("198.51.100.8", 5060, pbx, 5060, register("198.51.100.8", "c", 1, "Zoiper 5", false))), Drop, ReasonUserAgent)
}

func TestRestore(t *testing.T) {
	e := newWorld(t, func(c *Config) { c.BlockThreshold = 2 })
	active := netip.MustParseAddr("198.51.100.1")
	expired := netip.MustParseAddr("198.51.100.2")
	perm := netip.MustParseAddr("2001:db8::3")
	e.e.Restore(BlockState{Addr: active, Reason: ReasonFailures, Active: true, Count: 1, Until: t0.Add(time.Minute)})
	e.e.Restore(BlockState{Addr: expired, Reason: ReasonFailures, Active: true, Count: 1, Until: t0.Add(-time.Second)})
	e.e.Restore(BlockState{Addr: perm, Reason: ReasonUserAgent, Active: true, Permanent: true, Count: 5})
	want(t, e.send(udp("198.51.100.1", 5060, pbx, 5060, "x")), Drop, ReasonDynamic)
	want(t, e.send(udp("198.51.100.2", 5060, pbx, 5060, register("198.51.100.2", "a", 1, "", false))), Accept, ReasonNone)
	want(t, e.send(udp("2001:db8::3", 5060, pbxV6, 5060, "x")), Drop, ReasonDynamic)
	// The expired block still counts toward the threshold of 2.
	e.send(udp("198.51.100.2", 5060, pbx, 5060, register("198.51.100.2", "b", 1, "sipcli", false)))
	if b, ok := e.e.Blocked(expired); !ok || !b.Permanent || b.Count != 2 {
		t.Fatalf("restored count not honoured: %+v %v", b, ok)
	}
}

// TestLateRepliesDoNotCarryOver: replies to requests accepted before a
// block, judged after it, neither extend nor renew it.
func TestLateRepliesDoNotCarryOver(t *testing.T) {
	const src = "198.51.100.77"
	e := newWorld(t, func(c *Config) { c.FailuresPerMinute = 3; c.BlockTime = 3 * time.Second })
	e.challenged(src)
	for i := 1; i <= 6; i++ {
		want(t, e.send(udp(src, 5060, pbx, 5060, register(src, fmt.Sprint("c", i), 1, "", true))), Accept, ReasonNone)
	}
	reply := func(i int) {
		e.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, response(401, fmt.Sprint("c", i), 1, "REGISTER")))
	}
	for i := 1; i <= 3; i++ {
		reply(i)
	}
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "c7", 1, "", true))), Drop, ReasonFailures)
	for i := 4; i <= 6; i++ {
		reply(i)
	}
	e.clock.Advance(4 * time.Second)
	want(t, e.send(udp(src, 5060, pbx, 5060, register(src, "c8", 1, "", false))), Accept, ReasonNone)
}

// TestUserAgentEveryHeader: a scanner name in any User-Agent header of a
// request blocks it, whatever the header name's casing.
func TestUserAgentEveryHeader(t *testing.T) {
	tests := []struct {
		name, headers, wantUA string
	}{
		{"second header", "Yealink SIP-T46S\r\nUser-Agent: friendly-scanner", "friendly-scanner"},
		{"lower-case name", "Yealink SIP-T46S\r\nuser-agent: sipvicious", "sipvicious"},
		{"upper-case name, third", "Yealink\r\nUSER-AGENT: Polycom\r\nUser-agent: SIPcli/v1.8", "SIPcli/v1.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, nil)
			// The helper writes "User-Agent: " before the first value; the
			// rest are extra header lines.
			d := w.send(udp("198.51.100.67", 5070, pbx, 5060, register("198.51.100.67", "c", 1, tt.headers, false)))
			want(t, d, Drop, ReasonUserAgent)
			if ev := w.blockEvents(); len(ev) != 1 || ev[0].UserAgent != tt.wantUA {
				t.Fatalf("block events = %+v, want one with User-Agent %q", ev, tt.wantUA)
			}
		})
	}
}
