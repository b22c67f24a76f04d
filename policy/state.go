package policy

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// failureWindow is the span of the failure rule: "N failures per minute".
const failureWindow = int64(time.Minute)

// shardCount spreads per-source state over independent locks so that
// several queue readers rarely contend.
const shardCount = 64

// addrKey is an address as 16 bytes: a comparable map key without the zone
// pointer of netip.Addr, so big tables cost the GC nothing to scan.
type addrKey [16]byte

func keyOf(a netip.Addr) addrKey { return a.As16() }

func (k addrKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// shardOf mixes both halves so IPv4 (in the low bytes) and IPv6 (mostly in
// the high bytes) spread alike.
func shardOf(k addrKey) int {
	h := binary.LittleEndian.Uint64(k[:8]) ^ binary.LittleEndian.Uint64(k[8:])
	h *= 0x9E3779B97F4A7C15
	return int(h >> 58) // top 6 bits: 0..63
}

// shard holds the state of the sources that hash to it.
type shard struct {
	mu      sync.Mutex
	sources *lru[addrKey, source]
	blocks  *lru[addrKey, block]
	txns    *lru[uint64, txn]
	// drops counts dropped packets per source between two SampleDrops.
	drops map[addrKey]uint32
}

// source is the per-address counters.
type source struct {
	fails ring
	flood bucket
	tftp  bucket
}

// block is a source's dynamic block. It outlives the block itself to
// remember how many times the source was blocked.
type block struct {
	until     int64 // unix ns; meaningless when permanent
	first     int64
	last      int64
	hits      uint32 // packets dropped by this block
	count     uint8  // times blocked
	active    bool
	permanent bool
	reason    Reason
	country   [2]byte // ISO code of the source when blocked
	// userAgent is the scanner's or attacker's User-Agent, cloned out of
	// the packet buffer once per block.
	userAgent string
}

// txn is a request awaiting its final response.
type txn struct {
	credentials bool
}

// ring keeps the times of a source's most recent failures, at most N, so
// the count within the last minute is exact.
type ring struct {
	t   []int64
	pos int
}

func (r *ring) add(now int64, n int) {
	if len(r.t) < n {
		r.t = append(r.t, now)
		return
	}
	r.t[r.pos] = now
	r.pos = (r.pos + 1) % len(r.t)
}

// since counts the failures after t.
func (r *ring) since(t int64) int {
	c := 0
	for _, v := range r.t {
		if v > t {
			c++
		}
	}
	return c
}

func (r *ring) reset() { r.t, r.pos = r.t[:0], 0 }

// bucket is a token bucket; tokens are stored as a deficit so the zero
// value is a full bucket.
type bucket struct {
	used float64 // tokens taken and not yet refilled
	last int64
}

// take removes one token if there is one. perNs is the refill rate per
// nanosecond, burst the bucket size.
func (b *bucket) take(now int64, perNs, burst float64) bool {
	if b.last != 0 && now > b.last {
		b.used -= float64(now-b.last) * perNs
		if b.used < 0 {
			b.used = 0
		}
	}
	if now > b.last {
		b.last = now
	}
	if b.used+1 > burst {
		return false
	}
	b.used++
	return true
}
