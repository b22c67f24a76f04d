package fleet

import (
	"net/netip"
	"strings"
	"time"
)

// Widest ranges taken: wider ones would block whole providers on one
// host's word.
const (
	minBits4 = 16
	minBits6 = 32
)

// meta is the interned part of a decision: few distinct values are shared
// by many decisions, so each entry holds an index, not two strings.
type meta struct {
	origin, scenario string
	own              bool
}

type interner struct {
	metas []meta
	index map[meta]uint32
}

func (in *interner) intern(m meta) uint32 {
	if i, ok := in.index[m]; ok {
		return i
	}
	if in.index == nil {
		in.index = make(map[meta]uint32)
	}
	i := uint32(len(in.metas))
	in.metas = append(in.metas, m)
	in.index[m] = i
	return i
}

// entry is one decision held for a prefix.
type entry struct {
	id    int64
	until int64 // unix nanoseconds
	meta  uint32
}

// slot holds the decisions for one prefix: nearly always one, several
// when two origins ban the same address.
type slot struct {
	e    entry
	more []entry
}

// best is the decision enforced for the prefix: the one that lasts
// longest among the other origins', or this host's own when it is alone.
// The caller does not enforce its own decisions (they are its dynamic
// blocks, which end with an unblock or block_time), so an own ban that
// outlasts another origin's must not hide it.
func (s *slot) best(in *interner) entry {
	b := s.e
	for _, e := range s.more {
		if better(in, e, b) {
			b = e
		}
	}
	return b
}

// better reports whether e should be enforced rather than b.
func better(in *interner, e, b entry) bool {
	eo, bo := in.metas[e.meta].own, in.metas[b.meta].own
	if eo != bo {
		return bo
	}
	return e.until > b.until
}

func (s *slot) put(e entry) {
	if s.e.id == e.id {
		s.e = e
		return
	}
	for i := range s.more {
		if s.more[i].id == e.id {
			s.more[i] = e
			return
		}
	}
	s.more = append(s.more, e)
}

// remove drops decision id and reports whether the slot is now empty.
func (s *slot) remove(id int64) (empty bool) {
	if s.e.id == id {
		if len(s.more) == 0 {
			return true
		}
		s.e = s.more[len(s.more)-1]
		s.more = s.more[:len(s.more)-1]
		return false
	}
	for i := range s.more {
		if s.more[i].id == id {
			s.more = append(s.more[:i], s.more[i+1:]...)
			break
		}
	}
	return false
}

// filter turns wire decisions into entries, applying Config's rules and
// counting what it refuses.
type filter struct {
	origins   []string
	ownOrigin string // "" when push is off
	in        *interner
	refusals  *Refusals
}

// prefixOf parses the value of an Ip or Range decision. It counts no
// refusal: deletions go through it too.
func prefixOf(w *wireDecision) (netip.Prefix, bool, string) {
	switch strings.ToLower(w.Scope) {
	case "ip":
		a, err := netip.ParseAddr(w.Value)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false, "malformed"
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true, ""
	case "range":
		p, err := netip.ParsePrefix(w.Value)
		if err != nil {
			return netip.Prefix{}, false, "malformed"
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-ifv4mapped(p)).Masked()
		if !p.IsValid() || p.Addr().Zone() != "" {
			return netip.Prefix{}, false, "malformed"
		}
		return p, true, ""
	}
	return netip.Prefix{}, false, "scope"
}

func ifv4mapped(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

// accept checks a new decision against the rules; ok false means refused
// (and counted).
func (f *filter) accept(w *wireDecision, now time.Time) (netip.Prefix, entry, bool) {
	p, ok, why := prefixOf(w)
	if !ok {
		if why == "scope" {
			f.refusals.Scope++
		} else {
			f.refusals.Malformed++
		}
		return p, entry{}, false
	}
	if !strings.EqualFold(w.Type, "ban") {
		f.refusals.Type++
		return p, entry{}, false
	}
	if (p.Addr().Is4() && p.Bits() < minBits4) || (p.Addr().Is6() && p.Bits() < minBits6) {
		f.refusals.RangeTooWide++
		return p, entry{}, false
	}
	d, err := time.ParseDuration(w.Duration)
	if err != nil {
		f.refusals.Malformed++
		return p, entry{}, false
	}
	if d <= 0 {
		return p, entry{}, false // expired in flight: nothing to enforce
	}
	if !originAllowed(f.origins, w.Origin) {
		f.refusals.Origin++
		return p, entry{}, false
	}
	m := meta{origin: w.Origin, scenario: w.Scenario, own: f.ownOrigin != "" && w.Origin == f.ownOrigin}
	return p, entry{id: w.ID, until: now.Add(d).UnixNano(), meta: f.in.intern(m)}, true
}

// decisionSet is the set of bans in force, bounded by max prefixes.
type decisionSet struct {
	max      int
	m        map[netip.Prefix]slot
	byOrigin map[string]int // prefixes by the origin of their best entry
	in       *interner
}

func newSet(maxPrefixes, sizeHint int, in *interner) *decisionSet {
	return &decisionSet{
		max:      maxPrefixes,
		m:        make(map[netip.Prefix]slot, min(sizeHint, maxPrefixes)),
		byOrigin: make(map[string]int),
		in:       in,
	}
}

// add stores e for p; false when p is new and the set is full.
func (s *decisionSet) add(p netip.Prefix, e entry) bool {
	sl, ok := s.m[p]
	if !ok {
		if len(s.m) >= s.max {
			return false
		}
		s.m[p] = slot{e: e}
		s.byOrigin[s.in.metas[e.meta].origin]++
		return true
	}
	before := sl.best(s.in)
	sl.put(e)
	s.m[p] = sl
	s.recount(before, sl.best(s.in))
	return true
}

// remove drops decision id from p; it reports whether p is gone.
func (s *decisionSet) remove(p netip.Prefix, id int64) (gone bool) {
	sl, ok := s.m[p]
	if !ok {
		return false
	}
	before := sl.best(s.in)
	if sl.remove(id) {
		delete(s.m, p)
		s.byOrigin[s.in.metas[before.meta].origin]--
		return true
	}
	s.m[p] = sl
	s.recount(before, sl.best(s.in))
	return false
}

func (s *decisionSet) recount(before, after entry) {
	if before.meta != after.meta {
		s.byOrigin[s.in.metas[before.meta].origin]--
		s.byOrigin[s.in.metas[after.meta].origin]++
	}
}

// decision builds the public value for p's best entry.
func (s *decisionSet) decision(p netip.Prefix) (Decision, bool) {
	sl, ok := s.m[p]
	if !ok {
		return Decision{}, false
	}
	e := sl.best(s.in)
	m := s.in.metas[e.meta]
	return Decision{Prefix: p, Origin: m.origin, Scenario: m.scenario, Until: time.Unix(0, e.until), ID: e.id, Own: m.own}, true
}

func (s *decisionSet) inForce() map[string]int {
	out := make(map[string]int, len(s.byOrigin))
	for o, n := range s.byOrigin {
		if n > 0 {
			out[o] = n
		}
	}
	return out
}
