// Package store keeps what the decision leaves behind: the dynamic block
// list as the operator sees it (reason, User-Agent, country, when, how
// often) and the attack log. This file is the in-memory half; it is fed by
// the engine's events and never sits on the packet path.
package store

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sipprot/sipprot/policy"
)

// Record is one entry of the dynamic block list.
type Record struct {
	IP        netip.Addr
	Reason    policy.Reason
	UserAgent string
	Country   string
	First     time.Time // first block
	Last      time.Time // latest block or dropped packet
	Until     time.Time // end of a temporary block; zero when permanent
	Blocks    int       // times blocked
	Drops     uint64    // packets dropped while blocked
	Active    bool
	Permanent bool
}

// Attack is one line of the attack log: a block as it happened.
type Attack struct {
	At        time.Time
	IP        netip.Addr
	Reason    policy.Reason
	UserAgent string
	Country   string
	Permanent bool
}

// Memory holds the block list and attack log in memory. It is safe for
// concurrent use.
type Memory struct {
	mu      sync.Mutex
	records map[netip.Addr]*Record
	attacks []Attack
	drops   [16]uint64 // by reason
	// maxAttacks bounds the log; the oldest lines go first.
	maxAttacks int
}

// NewMemory returns an empty store keeping at most maxAttacks log lines.
func NewMemory(maxAttacks int) *Memory {
	if maxAttacks < 1 {
		maxAttacks = 100000
	}
	return &Memory{records: map[netip.Addr]*Record{}, maxAttacks: maxAttacks}
}

// Run applies events until ctx ends or the channel closes.
func (m *Memory) Run(ctx context.Context, events <-chan policy.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			m.Apply(ev)
		}
	}
}

// Apply records one engine event.
func (m *Memory) Apply(ev policy.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev.Kind {
	case policy.EventBlock:
		r := m.records[ev.Addr]
		if r == nil {
			r = &Record{IP: ev.Addr, First: ev.At}
			m.records[ev.Addr] = r
		}
		r.Reason, r.Last, r.Until = ev.Reason, ev.At, ev.Until
		r.Blocks, r.Active, r.Permanent = ev.Count, true, ev.Permanent
		if ev.UserAgent != "" {
			r.UserAgent = ev.UserAgent
		}
		if ev.Country != "" {
			r.Country = ev.Country
		}
		if len(m.attacks) >= m.maxAttacks {
			m.attacks = slices.Delete(m.attacks, 0, len(m.attacks)/4+1)
		}
		m.attacks = append(m.attacks, Attack{At: ev.At, IP: ev.Addr, Reason: ev.Reason,
			UserAgent: ev.UserAgent, Country: ev.Country, Permanent: ev.Permanent})
	case policy.EventUnblock:
		if r := m.records[ev.Addr]; r != nil {
			r.Active = false
			r.Permanent = false
		}
	case policy.EventDrop:
		if int(ev.Reason) < len(m.drops) {
			m.drops[ev.Reason]++
		}
		if r := m.records[ev.Addr]; r != nil && ev.Reason == policy.ReasonDynamic {
			r.Drops++
			r.Last = ev.At
		}
	}
}

// Blocks returns the active blocks, oldest first.
func (m *Memory) Blocks() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.records {
		if r.Active {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out
}

// Attacks returns the log lines with from <= At < to.
func (m *Memory) Attacks(from, to time.Time) []Attack {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Attack
	for _, a := range m.attacks {
		if !a.At.Before(from) && a.At.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

// Drops returns the packets dropped for reason r.
func (m *Memory) Drops(r policy.Reason) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int(r) < len(m.drops) {
		return m.drops[r]
	}
	return 0
}

// Annotate fills in the User-Agent and country of each block from the
// block events seen, so saved blocks keep them.
func (m *Memory) Annotate(blocks []policy.BlockState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range blocks {
		if r := m.records[blocks[i].Addr]; r != nil {
			blocks[i].UserAgent, blocks[i].Country = r.UserAgent, r.Country
		}
	}
}

// Restore seeds the block list with blocks saved before a restart.
func (m *Memory) Restore(blocks []policy.BlockState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range blocks {
		m.records[b.Addr] = &Record{IP: b.Addr, Reason: b.Reason, UserAgent: b.UserAgent, Country: b.Country,
			First: b.First, Last: b.Last, Until: b.Until, Blocks: b.Count, Drops: uint64(max(b.Hits, 0)),
			Active: b.Active, Permanent: b.Permanent}
	}
}
