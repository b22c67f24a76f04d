package policy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventBlock: a source was blocked dynamically (or made permanent).
	EventBlock EventKind = iota + 1
	// EventUnblock: a temporary block expired or was lifted.
	EventUnblock
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventBlock:
		return "block"
	case EventUnblock:
		return "unblock"
	}
	return "unknown"
}

// Event is a block or a lift, for the store, the log and notifications.
// Dropped packets are not events: they are counters (SampleDrops), so no
// flood can crowd a block out.
type Event struct {
	Kind   EventKind
	Addr   netip.Addr
	Reason Reason
	At     time.Time
	// Block events only.
	Permanent bool
	Count     int       // how many times this source has been blocked
	Until     time.Time // zero for permanent blocks
	UserAgent string
	Country   string
}

// DefaultEventQueue is how many block and unblock events wait for their
// consumer before new ones are counted lost: far more blocks than a
// consumer that reads every second falls behind by.
const DefaultEventQueue = 1 << 16

// eventQueue holds block and unblock events until the consumer takes
// them. Only blocks and lifts enter it, so its bound is reached only when
// the consumer stops reading, never by a flood of dropped packets.
type eventQueue struct {
	mu    sync.Mutex
	evs   []Event
	max   int
	lost  atomic.Uint64
	ready chan struct{} // one pending wake-up at most
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{max: max, ready: make(chan struct{}, 1)}
}

// push adds ev, or counts it lost when the queue is full. It never waits.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	if len(q.evs) >= q.max {
		q.mu.Unlock()
		q.lost.Add(1)
		return
	}
	q.evs = append(q.evs, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take moves the waiting events to buf.
func (q *eventQueue) take(buf []Event) []Event {
	q.mu.Lock()
	buf = append(buf, q.evs...)
	clear(q.evs)
	q.evs = q.evs[:0]
	q.mu.Unlock()
	return buf
}

func (e *Engine) emit(ev Event) { e.events.push(ev) }

// Ready receives a value when block or unblock events are waiting; the
// consumer then calls TakeEvents.
func (e *Engine) Ready() <-chan struct{} { return e.events.ready }

// TakeEvents appends the waiting block and unblock events to buf, oldest
// first, and returns it.
func (e *Engine) TakeEvents(buf []Event) []Event { return e.events.take(buf) }
