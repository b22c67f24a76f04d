package policy

import (
	"net/netip"
	"testing"
	"time"
)

// A fleet block drops its prefix's packets with reason fleet until it
// expires, below the allow list, without making a local block or
// counting toward the permanent threshold; lifting it is publishing a set
// without it.
func TestFleetBlocks(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.BlockThreshold = 2 })
	w.lists([]string{"198.51.100.7/32"}, nil)
	fleet := new(FleetBlocks)
	until := w.clock.Now().Add(10 * time.Minute)
	fleet.Insert(netip.MustParsePrefix("198.51.100.0/24"), &FleetBlock{Origin: "sipprot", Scenario: "sipprot/failures", Until: until, ID: 7})
	fleet.Insert(netip.MustParsePrefix("2001:db8:5::/48"), &FleetBlock{Origin: "cscli", Scenario: "manual", Until: until, ID: 8})
	w.e.SetFleet(fleet)
	phone := register("198.51.100.20", "p", 1, "Yealink", false)
	for i := range 5 {
		if d := w.send(udp("198.51.100.20", 5060, pbx, 5060, phone)); d != drop(ReasonFleet) {
			t.Fatalf("packet %d from a fleet-blocked source: %v", i, d)
		}
	}
	if d := w.send(udp("2001:db8:5::9", 5060, pbx, 5060, phone)); d != drop(ReasonFleet) {
		t.Fatalf("IPv6 in a fleet range: %v", d)
	}
	if d := w.send(udp("198.51.100.7", 5060, pbx, 5060, phone)); d != accept(ReasonAllow) {
		t.Fatalf("an allowed trunk inside a fleet range: %v", d)
	}
	if b, ok := w.e.Fleet(netip.MustParseAddr("198.51.100.20")); !ok || b.ID != 7 || b.Origin != "sipprot" {
		t.Fatalf("Fleet = %+v, %v", b, ok)
	}
	if _, ok := w.e.Fleet(netip.MustParseAddr("203.0.113.1")); ok {
		t.Fatal("Fleet names an address no decision covers")
	}
	if n := len(w.e.Blocks()); n != 0 {
		t.Fatalf("fleet drops made %d local blocks", n)
	}
	if got := w.e.Stats().Dropped[ReasonFleet]; got != 6 {
		t.Errorf("%d fleet drops counted, want 6", got)
	}
	if n := w.e.FleetCount(); n != 2 {
		t.Errorf("FleetCount = %d", n)
	}

	// Expired, it no longer drops, even before the stream says so.
	w.clock.Advance(11 * time.Minute)
	if d := w.send(udp("198.51.100.20", 5060, pbx, 5060, phone)); d.Verdict != Accept {
		t.Fatalf("after the decision expired: %v", d)
	}
	if _, ok := w.e.Fleet(netip.MustParseAddr("198.51.100.20")); ok {
		t.Fatal("an expired decision is still named")
	}

	// Deleted (a persistent delete leaves the published set intact).
	w.clock.Advance(-11 * time.Minute)
	next := fleet.DeletePersist(netip.MustParsePrefix("198.51.100.0/24"))
	if d := w.send(udp("198.51.100.21", 5060, pbx, 5060, phone)); d != drop(ReasonFleet) {
		t.Fatalf("before publishing the delete: %v", d)
	}
	w.e.SetFleet(next)
	if d := w.send(udp("198.51.100.21", 5060, pbx, 5060, phone)); d.Verdict != Accept {
		t.Fatalf("after the delete: %v", d)
	}
	w.e.SetFleet(nil)
	if d := w.send(udp("2001:db8:5::9", 5060, pbx, 5060, phone)); d.Verdict != Accept {
		t.Fatalf("with no fleet: %v", d)
	}
}
