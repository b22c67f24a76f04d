package policy

import (
	"net/netip"
	"time"

	"github.com/gaissmai/bart"
)

// FleetBlock is a block decided elsewhere in the fleet (another sipprot
// host, CrowdSec itself, an operator's cscli) and shared through
// CrowdSec's Local API. The engine enforces it per packet, after the
// allow list (a trunk is never blocked by the fleet), the deny list and
// its own blocks. It never makes a local block and never counts toward
// the permanent threshold.
type FleetBlock struct {
	// Origin is who decided: "sipprot" (another host), "crowdsec",
	// "cscli", "CAPI"…
	Origin string
	// Scenario is the decision's scenario, e.g. "sipprot/user_agent".
	Scenario string
	// Until is when the decision expires; a packet after it passes even
	// if the stream has not yet said the decision is gone.
	Until time.Time
	// ID is the Local API's decision ID.
	ID int64
}

func (b *FleetBlock) inForce(now int64) bool { return b.Until.UnixNano() > now }

// FleetBlocks is the set of fleet blocks by prefix. Build one with
// bart's Insert, change one with InsertPersist and DeletePersist (the one
// in force is read by decisions and must not be modified), and publish
// it with SetFleet.
type FleetBlocks = bart.Table[*FleetBlock]

// SetFleet publishes the fleet's blocks; nil means none.
func (e *Engine) SetFleet(t *FleetBlocks) { e.Publish(Settings{Fleet: true, FleetBlocks: t}) }

// Fleet returns the fleet block in force for a, if any (for `check`).
func (e *Engine) Fleet(a netip.Addr) (*FleetBlock, bool) {
	t := e.snap.Load().fleet
	if t == nil {
		return nil, false
	}
	b, ok := t.Lookup(a.Unmap())
	if !ok || !b.inForce(e.clock.Now().UnixNano()) {
		return nil, false
	}
	return b, true
}

// FleetCount is the number of fleet prefixes in force (expired ones the
// stream has not removed yet included).
func (e *Engine) FleetCount() int {
	if t := e.snap.Load().fleet; t != nil {
		return t.Size()
	}
	return 0
}
