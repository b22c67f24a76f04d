package store

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipprot/sipprot/policy"
)

func TestMemory(t *testing.T) {
	m := NewMemory(4)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("198.51.100.66")
	m.Apply(policy.Event{Kind: policy.EventBlock, Addr: a, Reason: policy.ReasonUserAgent, At: t0, Count: 1,
		UserAgent: "friendly-scanner", Country: "XX", Until: t0.Add(time.Minute)})
	for i := range 3 {
		m.Apply(policy.Event{Kind: policy.EventDrop, Addr: a, Reason: policy.ReasonDynamic, At: t0.Add(time.Duration(i+1) * time.Second)})
	}
	b := m.Blocks()
	if len(b) != 1 || b[0].UserAgent != "friendly-scanner" || b[0].Country != "XX" || b[0].Drops != 3 || !b[0].Last.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("blocks = %+v", b)
	}
	if m.Drops(policy.ReasonDynamic) != 3 {
		t.Fatalf("drops = %d", m.Drops(policy.ReasonDynamic))
	}
	m.Apply(policy.Event{Kind: policy.EventUnblock, Addr: a, At: t0.Add(time.Hour)})
	if len(m.Blocks()) != 0 {
		t.Fatal("unblocked source still listed")
	}
	// The attack log is bounded, oldest lines first out.
	for i := range 10 {
		m.Apply(policy.Event{Kind: policy.EventBlock, Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), At: t0.Add(time.Duration(i) * time.Minute)})
	}
	log := m.Attacks(t0, t0.Add(24*time.Hour))
	if len(log) > 4 || log[len(log)-1].IP != netip.MustParseAddr("198.51.100.9") {
		t.Fatalf("attack log = %+v", log)
	}
}
