package policy

import (
	"net/netip"
	"strings"
	"time"
)

// blockedLocked reports whether k is blocked now. A packet from a source
// under a temporary block restarts its clock; an expired block is lifted.
func (e *Engine) blockedLocked(r *rules, sh *shard, k addrKey, now int64) bool {
	b, ok := sh.blocks.get(k)
	if !ok || !b.active {
		return false
	}
	if !b.permanent && now >= b.until {
		b.active = false
		e.emit(Event{Kind: EventUnblock, Addr: k.addr(), Reason: b.reason, At: time.Unix(0, now)})
		return false
	}
	b.until = now + int64(r.BlockTime)
	b.last = now
	b.hits++
	return true
}

// blockLocked blocks k for reason. The BlockThreshold-th block of the same
// source makes it permanent.
func (e *Engine) blockLocked(rs *rules, sh *shard, k addrKey, now int64, r Reason, ua string) {
	b, created := sh.blocks.put(k)
	if created {
		b.first = now
	}
	if !b.active {
		if b.count < 255 {
			b.count++
		}
		b.active = true
		e.stats.blocks[r].Add(1)
	}
	b.reason = r
	b.last = now
	b.hits++
	b.until = now + int64(rs.BlockTime)
	if int(b.count) >= rs.BlockThreshold {
		b.permanent = true
	}
	// The packet's buffer is reused: keep a copy, once per block.
	if ua = ua[:min(len(ua), maxUserAgent)]; ua != b.userAgent {
		b.userAgent = strings.Clone(ua)
	}
	a := k.addr()
	b.country = countryCode(e.country(a))
	ev := Event{Kind: EventBlock, Addr: a, Reason: r, At: time.Unix(0, now),
		Permanent: b.permanent, Count: int(b.count), UserAgent: b.userAgent, Country: b.countryString()}
	if !b.permanent {
		ev.Until = time.Unix(0, b.until)
	}
	e.emit(ev)
}

// maxUserAgent bounds the User-Agent a block keeps: enough for any real
// one, and a forged 64 KiB header costs no more than that.
const maxUserAgent = 256

// countryCode packs an ISO 3166 code; anything else is kept as none.
func countryCode(cc string) [2]byte {
	if len(cc) != 2 {
		return [2]byte{}
	}
	return [2]byte{cc[0], cc[1]}
}

// countryString returns the block's country code, or "".
func (b *block) countryString() string {
	if b.country == [2]byte{} {
		return ""
	}
	return string(b.country[:])
}

// state describes b as k's BlockState.
func (b *block) state(a netip.Addr) BlockState {
	s := BlockState{Addr: a, Reason: b.reason, Active: b.active, Permanent: b.permanent,
		Count: int(b.count), Hits: int(b.hits), First: time.Unix(0, b.first), Last: time.Unix(0, b.last),
		UserAgent: b.userAgent, Country: b.countryString()}
	if !b.permanent {
		s.Until = time.Unix(0, b.until)
	}
	return s
}

// BlockState describes one source's dynamic block.
type BlockState struct {
	Addr        netip.Addr
	Reason      Reason
	Active      bool
	Permanent   bool
	Count       int // times blocked
	Hits        int // packets dropped
	First, Last time.Time
	Until       time.Time // zero when permanent
	// UserAgent and Country of the attack that caused the block, kept
	// with the block so status shows them as soon as it is made.
	UserAgent, Country string
}

// Blocks returns every source the engine has blocked, active or lifted
// (lifted entries remember the block count toward the threshold).
func (e *Engine) Blocks() []BlockState {
	var out []BlockState
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		sh.blocks.each(func(k addrKey, b *block) bool {
			out = append(out, b.state(k.addr()))
			return true
		})
		sh.mu.Unlock()
	}
	return out
}

// Blocked reports a's block, if it has one that is active now.
func (e *Engine) Blocked(a netip.Addr) (BlockState, bool) {
	k := keyOf(a)
	sh := &e.shards[shardOf(k)]
	now := e.clock.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.blocks.peek(k)
	if !ok || !b.active || (!b.permanent && now >= b.until) {
		return BlockState{}, false
	}
	return b.state(a.Unmap()), true
}

// Unblock lifts a's block, temporary or permanent, and forgets its block
// count. It reports whether a was blocked.
func (e *Engine) Unblock(a netip.Addr) bool {
	k := keyOf(a)
	sh := &e.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.blocks.peek(k)
	if !ok {
		return false
	}
	was := b.active
	reason := b.reason
	sh.blocks.del(k)
	if s, ok := sh.sources.peek(k); ok {
		s.fails.reset()
	}
	if was {
		e.emit(Event{Kind: EventUnblock, Addr: k.addr(), Reason: reason, At: e.clock.Now()})
	}
	return was
}

// Sweep lifts every temporary block that has expired, so unblock events
// leave even for sources that went quiet. The daemon calls it periodically.
func (e *Engine) Sweep() int {
	now := e.clock.Now().UnixNano()
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		sh.blocks.each(func(k addrKey, b *block) bool {
			if b.active && !b.permanent && now >= b.until {
				b.active = false
				n++
				e.emit(Event{Kind: EventUnblock, Addr: k.addr(), Reason: b.reason, At: time.Unix(0, now)})
			}
			return true
		})
		sh.mu.Unlock()
	}
	return n
}

// Restore puts back a block saved before a restart. Expired temporary
// blocks are kept only for their count toward the threshold.
func (e *Engine) Restore(s BlockState) {
	k := keyOf(s.Addr)
	sh := &e.shards[shardOf(k)]
	now := e.clock.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, _ := sh.blocks.put(k)
	*b = block{
		until:     s.Until.UnixNano(),
		first:     s.First.UnixNano(),
		last:      s.Last.UnixNano(),
		hits:      uint32(min(s.Hits, 1<<32-1)),
		count:     uint8(min(max(s.Count, 0), 255)),
		permanent: s.Permanent,
		reason:    s.Reason,
		country:   countryCode(s.Country),
		userAgent: strings.Clone(s.UserAgent[:min(len(s.UserAgent), maxUserAgent)]),
	}
	b.active = s.Active && (s.Permanent || b.until > now)
}
