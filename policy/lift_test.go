package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gaissmai/bart"
)

func TestBlocksToLift(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	blocks := []BlockState{
		{Addr: netip.MustParseAddr("192.0.2.7"), Active: true, Until: now.Add(time.Minute)},       // temporary, in force
		{Addr: netip.MustParseAddr("192.0.2.8"), Active: true, Permanent: true},                   // permanent
		{Addr: netip.MustParseAddr("192.0.2.9"), Active: true, Until: now.Add(-time.Minute)},      // expired
		{Addr: netip.MustParseAddr("192.0.2.10"), Active: false, Until: now.Add(time.Minute)},     // lifted
		{Addr: netip.MustParseAddr("198.51.100.7"), Active: true, Permanent: true},                // not allowed
		{Addr: netip.MustParseAddr("2001:db8::7"), Active: true, Until: now.Add(time.Minute)},     // allowed v6
		{Addr: netip.MustParseAddr("::ffff:192.0.2.11"), Active: true, Until: now.Add(time.Hour)}, // mapped
	}
	allow := new(bart.Lite)
	allow.Insert(netip.MustParsePrefix("192.0.2.0/24"))
	allow.Insert(netip.MustParsePrefix("2001:db8::/32"))
	got := fmt.Sprint(BlocksToLift(blocks, allow, now))
	if want := "[192.0.2.7 192.0.2.8 2001:db8::7 ::ffff:192.0.2.11]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
