package policy

import "sync/atomic"

type stats struct {
	packets, sipMessages, malformed atomic.Uint64
	accepted, dropped               [numReasons]atomic.Uint64
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
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Packets:     e.stats.packets.Load(),
		SIPMessages: e.stats.sipMessages.Load(),
		Malformed:   e.stats.malformed.Load(),
		EventsLost:  e.events.lost.Load(),
		Accepted:    map[Reason]uint64{},
		Dropped:     map[Reason]uint64{},
	}
	for r := Reason(0); r < numReasons; r++ {
		if v := e.stats.accepted[r].Load(); v > 0 {
			s.Accepted[r] = v
		}
		if v := e.stats.dropped[r].Load(); v > 0 {
			s.Dropped[r] = v
		}
	}
	return s
}
