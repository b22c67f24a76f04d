package policy

import (
	"net/netip"
	"time"
)

// dropSourcesPerShard bounds the sources each shard counts one by one
// between two samples (64 shards: 4,096 sources per sample). A spoofed
// flood from millions of addresses still counts in the totals by reason;
// only the per-source detail is capped, so the table never grows or
// allocates on the packet path.
const dropSourcesPerShard = 64

// countDrop adds one dropped packet from k to its shard's tally. sh.mu is
// held.
func (sh *shard) countDrop(k addrKey) {
	if n, ok := sh.drops[k]; ok || len(sh.drops) < dropSourcesPerShard {
		sh.drops[k] = n + 1
	}
}

// tallied are the reasons whose drops are sampled: those that drop a
// packet without making a block. A packet that makes a block (User-Agent,
// failures, flood) is its block event, not a drop.
var tallied = [...]Reason{ReasonDeny, ReasonDynamic, ReasonFleet, ReasonCountry, ReasonTFTP, ReasonMalformed, ReasonUnboundNonce}

// DropSample is what was dropped between two calls of SampleDrops.
type DropSample struct {
	At time.Time
	// ByReason are the packets dropped per reason since the last sample,
	// for the reasons that make no block.
	ByReason [NumReasons]uint64
	// BySource are the dropped packets of the sources counted one by one
	// (at most 4,096 per sample). The map is reused by the next sample.
	BySource map[netip.Addr]uint64
	// Unbound and ProvenRefused are the counters of Stats of the same
	// names, counted since the last sample.
	Unbound, ProvenRefused uint64
}

// Total is the number of packets dropped in the sample.
func (s *DropSample) Total() uint64 {
	var n uint64
	for _, v := range s.ByReason {
		n += v
	}
	return n
}

// SampleDrops fills s with the packets dropped since the previous call
// and resets the per-source tallies. The store calls it about once a
// second; it is the only reader of the tallies, so calls must not overlap.
func (e *Engine) SampleDrops(s *DropSample) {
	s.At = e.clock.Now()
	if s.BySource == nil {
		s.BySource = make(map[netip.Addr]uint64)
	}
	clear(s.BySource)
	for _, r := range tallied {
		now := e.stats.dropped[r].Load()
		s.ByReason[r] = now - e.sampled[r]
		e.sampled[r] = now
	}
	u, p := e.stats.unbound.Load(), e.stats.provenRefused.Load()
	s.Unbound, s.ProvenRefused = u-e.sampledUnbound, p-e.sampledProven
	e.sampledUnbound, e.sampledProven = u, p
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for k, n := range sh.drops {
			s.BySource[k.addr()] += uint64(n)
		}
		clear(sh.drops)
		sh.mu.Unlock()
	}
}
