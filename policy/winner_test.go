package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestAddressWinnerIsDecide: for every combination of address facts,
// AddressWinner names the reason Decide gives the source's packet.
func TestAddressWinnerIsDecide(t *testing.T) {
	for mask := range 1 << len(addressRules) {
		holds := func(r Reason) bool {
			for i, a := range addressRules {
				if a == r {
					return mask&(1<<i) != 0
				}
			}
			return false
		}
		t.Run(fmt.Sprintf("%04b", mask), func(t *testing.T) {
			w := newWorld(t, func(c *Config) { c.BlockedCountries = []string{"XX"} })
			src := "198.51.100.70"
			var allow, deny []string
			if holds(ReasonAllow) {
				allow = []string{src + "/32"}
			}
			if holds(ReasonDeny) {
				deny = []string{"198.51.100.0/24"}
			}
			w.lists(allow, deny)
			if holds(ReasonDynamic) {
				// Blocked before the lists would hide the scanner.
				w.lists(nil, nil)
				w.send(udp(src, 5060, pbx, 5060, register(src, "s", 1, "friendly-scanner", false)))
				w.lists(allow, deny)
			}
			if holds(ReasonFleet) {
				fleet := new(FleetBlocks)
				fleet.Insert(netip.MustParsePrefix("198.51.100.64/28"), &FleetBlock{Origin: "cscli", Until: w.clock.Now().Add(time.Hour)})
				w.e.SetFleet(fleet)
			}
			if holds(ReasonCountry) {
				w.e.SetCountryLookup(fakeGeo{src: "XX"})
			}
			d := w.send(udp(src, 5060, pbx, 5060, register(src, "p", 1, "Yealink", false)))
			if got := AddressWinner(holds); d.Reason != got {
				t.Fatalf("Decide gives %v, AddressWinner %v", d.Reason, got)
			}
		})
	}
}
