package control

import (
	"time"

	"github.com/sipprot/sipprot/queue"
)

// StatusEvery is how often the daemon rewrites its status file.
const StatusEvery = 5 * time.Second

// Status is the daemon's health: GET /v1/status, the status file in the
// state directory, and `sipprot status --json`'s "daemon".
type Status struct {
	PID       int                 `json:"pid"`
	Running   bool                `json:"running"`
	Started   time.Time           `json:"started"`
	Updated   time.Time           `json:"updated"`
	Config    string              `json:"config"`
	Queues    []queue.QueueHealth `json:"queues"`
	Packets   uint64              `json:"packets"`
	Dropped   map[string]int64    `json:"dropped_by_reason"`
	Malformed uint64              `json:"malformed"`
	// EventsLost counts block and unblock events the daemon could not
	// keep (its consumer stopped reading): 0 unless something is wrong.
	EventsLost uint64 `json:"events_lost"`
	// Failed names each service (web, control, lists, geoip, queues) that
	// could not start or stopped serving, with why.
	Failed map[string]string `json:"failed,omitempty"`
}

// Stale reports whether a status claiming to run has not been refreshed
// for long enough that the daemon must be dead or wedged.
func (s *Status) Stale(now time.Time) bool {
	return s.Running && now.Sub(s.Updated) > 3*StatusEvery
}
