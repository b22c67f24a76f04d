package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/sipprot/sipprot/packet"
)

// blockedWorld has one denied, one allowed, one dynamically blocked and
// one fleet-blocked source, plus lists and a fleet of realistic size
// (100,000 decisions, as a community blocklist brings).
func blockedWorld(tb testing.TB) (*Engine, map[string]*packet.Parsed) {
	w := &world{t: tb, clock: NewManualClock(t0)}
	cfg := DefaultConfig()
	cfg.UserAgents = []string{"friendly-scanner"}
	w.e = New(cfg, w.clock)
	var allow, deny []string
	for i := range 1000 {
		allow = append(allow, fmt.Sprintf("192.0.%d.%d/32", 2+i/250, i%250))
		deny = append(deny, fmt.Sprintf("2001:db8:%x::/48", i))
	}
	allow = append(allow, "192.0.2.0/24")
	deny = append(deny, "198.51.100.1/32")
	w.lists(allow, deny)
	reg := register("203.0.113.99", "b", 1, "friendly-scanner", false)
	w.e.Decide(udp("203.0.113.99", 5060, pbx, 5060, reg))
	fleet := new(FleetBlocks)
	until := t0.Add(time.Hour)
	for i := range 100_000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf1, 12: byte(i >> 16), 13: byte(i >> 8), 14: byte(i)})
		fleet.Insert(netip.PrefixFrom(a, 128), &FleetBlock{Origin: "CAPI", Scenario: "crowdsecurity/ssh-bf", Until: until})
	}
	fleet.Insert(netip.MustParsePrefix("203.0.113.50/32"), &FleetBlock{Origin: "sipprot", Scenario: "sipprot/user_agent", Until: until})
	w.e.SetFleet(fleet)
	return w.e, map[string]*packet.Parsed{
		"fleet":   udp("203.0.113.50", 5060, pbx, 5060, reg),
		"allowed": udp("192.0.2.7", 5060, pbx, 5060, reg),
		"denied":  udp("198.51.100.1", 5060, pbx, 5060, reg),
		"blocked": udp("203.0.113.99", 5060, pbx, 5060, reg),
	}
}

// TestNoAllocs: a listed or blocked source costs no allocation.
func TestNoAllocs(t *testing.T) {
	e, pkts := blockedWorld(t)
	for name, p := range pkts {
		t.Run(name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { e.Decide(p) }); n != 0 {
				t.Fatalf("%s: %v allocs per decision, want 0", name, n)
			}
		})
	}
}

func BenchmarkDecideListedOrBlocked(b *testing.B) {
	e, pkts := blockedWorld(b)
	for _, name := range []string{"allowed", "denied", "blocked", "fleet"} {
		p := pkts[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(p)
			}
		})
	}
}

var benchRegister = []byte(register("198.51.100.20", "8f3c1b2a-77e4-4f0e-9a7b-1c2d3e4f5a6b", 2, "Yealink SIP-T46S 66.86.0.15", true))

// BenchmarkRegister compares the full decision for a REGISTER, parse
// included, with a bare sipgo parse of the same message in the same run.
func BenchmarkRegister(b *testing.B) {
	b.Run("sipgo_parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sip.ParseMessage(benchRegister); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decide", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.UserAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "vaxsipuseragent", "sundayddr", "iwar", "sipsak", "pplsip", "smap"}
		e := New(cfg, NewManualClock(t0))
		p := &packet.Parsed{Src: netip.MustParseAddr("198.51.100.20"), Dst: pbx, SrcPort: 5060, DstPort: 5060,
			Proto: packet.UDP, Payload: benchRegister}
		b.ReportAllocs()
		for b.Loop() {
			if d := e.Decide(p); d.Verdict != Accept {
				b.Fatal(d)
			}
		}
	})
	// decide_bound is a phone answering its own challenge: the nonce is
	// found in the table (decide's is not: it counts as unbound).
	b.Run("decide_bound", func(b *testing.B) {
		w := &world{t: b, clock: NewManualClock(t0)}
		cfg := DefaultConfig()
		cfg.UserAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "vaxsipuseragent", "sundayddr", "iwar", "sipsak", "pplsip", "smap"}
		w.e = New(cfg, w.clock)
		w.challenged("198.51.100.20")
		p := &packet.Parsed{Src: netip.MustParseAddr("198.51.100.20"), Dst: pbx, SrcPort: 5060, DstPort: 5060,
			Proto: packet.UDP, Payload: benchRegister}
		b.ReportAllocs()
		for b.Loop() {
			if d := w.e.Decide(p); d.Verdict != Accept {
				b.Fatal(d)
			}
		}
		if st := w.e.Stats(); st.Unbound != 0 {
			b.Fatalf("%d unbound: the nonce was not bound", st.Unbound)
		}
	})
}

// TestMemoryMillionSources measures the state of 1,000,000 distinct
// sources, each with a failure and a flood bucket (the most state a source
// can have), against the 256 MiB budget.
func TestMemoryMillionSources(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	cfg := DefaultConfig()
	cfg.RequestsPerSecond = 10
	e := New(cfg, NewManualClock(t0))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p := &packet.Parsed{Dst: pbx, SrcPort: 5060, DstPort: 5060, Proto: packet.UDP}
	r := &packet.Parsed{Src: pbx, SrcPort: 5060, DstPort: 5060, Proto: packet.UDP}
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)})
		}
		id := fmt.Sprintf("mem-%d", i)
		p.Src, p.Payload = a, []byte(register(a.String(), id, 1, "Zoiper", true))
		if d := e.Decide(p); d.Verdict != Accept {
			t.Fatalf("source %d: %v", i, d)
		}
		r.Dst, r.Payload = a, []byte(response(403, id, 1, "REGISTER"))
		e.Decide(r)
		// Every fourth source also holds a block.
		if i%4 == 0 {
			k := keyOf(a)
			sh := &e.shards[shardOf(k)]
			sh.mu.Lock()
			e.blockLocked(e.snap.Load().rules, sh, k, 0, ReasonFailures, "")
			sh.mu.Unlock()
			e.TakeEvents(nil)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := after.HeapAlloc - before.HeapAlloc
	t.Logf("1,000,000 sources: %.1f MiB heap (%d sources, %d blocks, %d transactions kept)", float64(used)/(1<<20),
		totalLen(e, func(s *shard) int { return s.sources.Len() }), totalLen(e, func(s *shard) int { return s.blocks.Len() }),
		totalLen(e, func(s *shard) int { return s.txns.Len() }))
	if used > 256<<20 {
		t.Fatalf("state for 1M sources uses %d MiB, budget 256 MiB", used>>20)
	}
	runtime.KeepAlive(e)
}

func totalLen(e *Engine, f func(*shard) int) int {
	n := 0
	for i := range e.shards {
		n += f(&e.shards[i])
	}
	return n
}
