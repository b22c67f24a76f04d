package policy

import (
	"net/netip"
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
	// EventDrop: a packet was dropped (one event per packet).
	EventDrop
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventBlock:
		return "block"
	case EventUnblock:
		return "unblock"
	case EventDrop:
		return "drop"
	}
	return "unknown"
}

// Event leaves the decision for the store and notifications. It is sent
// without waiting: when the channel is full the event is counted as lost.
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

// emit sends ev if the channel has room and counts it lost otherwise, so
// the verdict never waits on a slow consumer.
func (e *Engine) emit(ev Event) {
	select {
	case e.events <- ev:
	default:
		e.stats.eventsLost.Add(1)
	}
}

// Events returns the channel the engine sends its events on.
func (e *Engine) Events() <-chan Event { return e.events }
