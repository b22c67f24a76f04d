package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	// UnboundCredentials counts requests whose credentials answer no
	// challenge the PBX sent to their source ([sip] bind_nonces): forged
	// requests, or phones holding a challenge from before sipprot started.
	UnboundCredentials uint64 `json:"unbound_credentials"`
	// ProvenRefused counts 404s and 403s (scans) not counted as failures
	// because their source had authenticated within block_time.
	ProvenRefused uint64 `json:"failures_refused_proven"`
	// Failed names each service (web, control, lists, geoip, queues) that
	// could not start or stopped serving, with why.
	Failed map[string]string `json:"failed,omitempty"`
	// Fleet is the CrowdSec Local API link; absent when [fleet] is off.
	Fleet *FleetStatus `json:"fleet,omitempty"`
}

// FleetStatus is the state of the fleet link: the pulls that feed the
// fleet's blocks in, the pushes that share this host's blocks out.
type FleetStatus struct {
	LAPI          string    `json:"lapi"`
	PullConnected bool      `json:"pull_connected"`
	LastPull      time.Time `json:"last_pull"`
	LastPullErr   string    `json:"last_pull_error,omitempty"`
	PushConnected bool      `json:"push_connected"`
	LastPush      time.Time `json:"last_push"`
	LastPushErr   string    `json:"last_push_error,omitempty"`
	// InForce counts the decisions held by origin, this host's own
	// included; Enforced is the prefixes the engine drops (others' only).
	InForce  map[string]int `json:"in_force_by_origin"`
	Enforced int            `json:"enforced"`
	Outbox   int            `json:"outbox"`
	Pushed   uint64         `json:"pushed"`
	// Refused counts decisions not taken (too wide, over max_decisions,
	// other scope, type or origin, malformed); NotShared the blocks that
	// found the queue or the outbox full.
	Refused   uint64 `json:"refused"`
	NotShared uint64 `json:"not_shared"`
}

// Stale reports whether a status claiming to run has not been refreshed
// for long enough that the daemon must be dead or wedged.
func (s *Status) Stale(now time.Time) bool {
	return s.Running && now.Sub(s.Updated) > 3*StatusEvery
}

// StatusFile is the name, in the state directory, of the daemon's status:
// rewritten every few seconds, so `sipprot status` can tell a running, a
// stopped and a dead daemon apart without talking to it.
const StatusFile = "status.json"

// ReadStatus reads the status file of the state directory; (nil, nil)
// when the daemon never ran.
func ReadStatus(dir string) (*Status, error) {
	data, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read status: %s: %w", filepath.Join(dir, StatusFile), err)
	}
	return &s, nil
}
