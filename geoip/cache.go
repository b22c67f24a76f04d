package geoip

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// The caches are fixed-size, direct-mapped and lock-free: a verdict never
// waits on another goroutine's lookup, and a colliding entry just replaces
// the old one. Each belongs to one DB, so a swapped-in database starts with
// empty caches and no stale answer survives an update.

const (
	addrCacheBits   = 12 // 4096 recent sources, 128 KiB
	offsetCacheBits = 10 // 1024 data records
	golden          = 0x9E3779B97F4A7C15
)

// addrSlot is one cached address → code, guarded by a sequence number
// (a seqlock): odd while a writer fills it, so a reader that sees the
// number change or odd treats the slot as a miss instead of reading a torn
// 128-bit address.
type addrSlot struct {
	seq, hi, lo, val atomic.Uint64
}

// addrCache maps recent addresses to their code. val is 0 for an empty
// slot, else slotFull | code (code 0 caches "not in the database").
type addrCache [1 << addrCacheBits]addrSlot

const slotFull = 1 << 63

// addrKey splits an unmapped address into two words; IPv4 keeps its
// ::ffff: form, which no IPv6 key has after Unmap.
func addrKey(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func (c *addrCache) slot(hi, lo uint64) *addrSlot {
	return &c[((hi*golden)^lo)*golden>>(64-addrCacheBits)]
}

func (c *addrCache) get(hi, lo uint64) (code, bool) {
	s := c.slot(hi, lo)
	q := s.seq.Load()
	if q&1 != 0 {
		return 0, false
	}
	h, l, v := s.hi.Load(), s.lo.Load(), s.val.Load()
	if s.seq.Load() != q || v&slotFull == 0 || h != hi || l != lo {
		return 0, false
	}
	return code(v), true
}

func (c *addrCache) put(hi, lo uint64, cc code) {
	s := c.slot(hi, lo)
	q := s.seq.Load()
	// Another writer holds the slot: skip, it is only a cache.
	if q&1 != 0 || !s.seq.CompareAndSwap(q, q+1) {
		return
	}
	s.hi.Store(hi)
	s.lo.Store(lo)
	s.val.Store(slotFull | uint64(cc))
	s.seq.Store(q + 2)
}

// offsetCache maps a data record's offset to its code, one word per slot:
// (offset+1)<<16 | code, so an empty slot (0) never matches.
type offsetCache [1 << offsetCacheBits]atomic.Uint64

func (c *offsetCache) get(off uint64) (code, bool) {
	e := c[off*golden>>(64-offsetCacheBits)].Load()
	if e>>16 != off+1 {
		return 0, false
	}
	return code(e & 0xffff), true
}

func (c *offsetCache) put(off uint64, cc code) {
	c[off*golden>>(64-offsetCacheBits)].Store((off+1)<<16 | uint64(cc))
}
