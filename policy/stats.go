package policy

import "sync/atomic"

type stats struct {
	packets, sipMessages, malformed atomic.Uint64
	accepted, dropped               [numReasons]atomic.Uint64
	// blocks counts the blocks made by reason: off the per-packet path,
	// once per block.
	blocks [numReasons]atomic.Uint64
	// unbound and provenRefused: see Stats.
	unbound, provenRefused atomic.Uint64
}

func (s *stats) count(d Decision) {
	if d.Verdict == Drop {
		s.dropped[d.Reason].Add(1)
	} else {
		s.accepted[d.Reason].Add(1)
	}
}

// Stats are the engine's counters since it started.
type Stats struct {
	Packets     uint64
	SIPMessages uint64
	// Malformed counts payloads on SIP ports that were not SIP.
	Malformed uint64
	// EventsLost counts block and unblock events lost because their
	// consumer stopped reading (the queue bound was reached).
	EventsLost uint64
	Accepted   map[Reason]uint64
	Dropped    map[Reason]uint64
	// Blocks counts the dynamic blocks made, by the reason that made them.
	Blocks map[Reason]uint64
	// Unbound counts requests with credentials that answer no nonce the
	// PBX issued to their source address (with BindNonces): a PBX's
	// 401/407/403 to them is not a failure. Forged requests, and phones
	// answering a challenge issued before sipprot started, land here.
	Unbound uint64
	// ProvenRefused counts failures (404, 403 without credentials) not
	// counted because their source had proven itself by authenticating.
	ProvenRefused uint64
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Packets:       e.stats.packets.Load(),
		SIPMessages:   e.stats.sipMessages.Load(),
		Malformed:     e.stats.malformed.Load(),
		EventsLost:    e.events.lost.Load(),
		Unbound:       e.stats.unbound.Load(),
		ProvenRefused: e.stats.provenRefused.Load(),
		Accepted:      map[Reason]uint64{},
		Dropped:       map[Reason]uint64{},
		Blocks:        map[Reason]uint64{},
	}
	for r := Reason(0); r < numReasons; r++ {
		if v := e.stats.accepted[r].Load(); v > 0 {
			s.Accepted[r] = v
		}
		if v := e.stats.dropped[r].Load(); v > 0 {
			s.Dropped[r] = v
		}
		if v := e.stats.blocks[r].Load(); v > 0 {
			s.Blocks[r] = v
		}
	}
	return s
}

// BlockCounts are the dynamic blocks in force now.
type BlockCounts struct {
	Temporary, Permanent int
}

// BlockCounts counts the blocks in force, one shard lock at a time, without
// copying them as Blocks does: a scrape every few seconds stays cheap.
func (e *Engine) BlockCounts() BlockCounts {
	var c BlockCounts
	now := e.clock.Now().UnixNano()
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		sh.blocks.each(func(_ addrKey, b *block) bool {
			switch {
			case !b.active:
			case b.permanent:
				c.Permanent++
			case now < b.until:
				c.Temporary++
			}
			return true
		})
		sh.mu.Unlock()
	}
	return c
}

// ListSizes returns the prefixes of the allow and deny lists in force.
func (e *Engine) ListSizes() (allow, deny int) {
	sn := e.snap.Load()
	if sn.allow != nil {
		allow = sn.allow.Size()
	}
	if sn.deny != nil {
		deny = sn.deny.Size()
	}
	return allow, deny
}
