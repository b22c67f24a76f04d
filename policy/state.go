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
	// nonces holds the challenges the PBX sent to the shard's sources,
	// keyed by nonceKey(address, nonce): an entry means "this nonce was
	// issued to this address".
	nonces *lru[uint64, issued]
	// drops counts dropped packets per source between two SampleDrops.
	drops map[addrKey]uint32
}

// source is the per-address counters.
type source struct {
	fails ring
	flood bucket
	tftp  bucket
	// proven is when the source's proof of an authenticated exchange
	// lapses (unix ns; 0: never proven). Until then scans (404, 403
	// without credentials) answered to it are not counted.
	proven int64
}

// failures counts s's failures within the last minute: only the bound
// ones (wrong passwords) while s is proven.
func (s *source) failures(now int64) int {
	return s.fails.since(now-failureWindow, now < s.proven)
}

// issued is a nonce the PBX sent in a challenge.
//
// It is bound to the client's address only, not to its port: NAT
// bindings of phones and offices change ports between a challenge and its
// answer (rebinding after an idle UDP timeout, or one phone's traffic
// spread over several mappings), and what a forger lacks is the nonce,
// not the port. Failures are counted per address anyway.
//
// A nonce stays bound for as long as the table keeps it, whatever its
// age: the PBX still checks the password behind a stale nonce (Kamailio
// answers a right one with stale=true), so an age limit would give a
// guesser a way to guess uncounted. Only the table's bound (least
// recently issued or used out first) ends a binding.
type issued struct {
	at int64 // unix ns the challenge went out: the nonce's age, not a limit
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
	// bound is true when the request's credentials answer a nonce the
	// PBX issued to the request's source address.
	bound bool
}

// ring keeps the times of a source's most recent failures, at most N, so
// the count within the last minute is exact. A scan failure (404, 403
// without credentials) is stored negated: a source that proves itself
// later in the minute must not be blocked by the scans forged in its name
// before, and the sign costs no memory per source.
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

// since counts the failures after t; authOnly leaves scans out.
func (r *ring) since(t int64, authOnly bool) int {
	c := 0
	for _, v := range r.t {
		if v < 0 {
			if authOnly {
				continue
			}
			v = -v
		}
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
