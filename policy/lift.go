package policy

import (
	"net/netip"
	"time"

	"github.com/gaissmai/bart"
)

// BlocksToLift returns the addresses whose dynamic block is in force at
// now and that the allow set covers. The allow list wins over a block
// anyway, but the block would stay on the dynamic list, count toward the
// permanent threshold and come back into force if the address left the
// allow list; an address put on the allow list has its block lifted.
//
// The daemon calls it whenever it publishes an allow list (at start and
// on every reload) and passes each address to Engine.Unblock.
func BlocksToLift(blocks []BlockState, allow *bart.Lite, now time.Time) []netip.Addr {
	var out []netip.Addr
	for _, b := range blocks {
		if InForce(b, now) && allow.Contains(b.Addr.Unmap()) {
			out = append(out, b.Addr)
		}
	}
	return out
}

// InForce reports whether block b drops traffic at now: active, and
// permanent or not yet expired.
func InForce(b BlockState, now time.Time) bool {
	return b.Active && (b.Permanent || b.Until.After(now))
}
