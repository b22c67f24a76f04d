package geoip

import (
	"encoding/json"
	"fmt"
	"github.com/sipprot/sipprot/atomicfile"
	"os"
	"time"
)

// Results of an update attempt, as stored and shown.
const (
	resultUpdated   = "updated"
	resultUnchanged = "unchanged"
	resultFailed    = "failed"
)

// state is what Update remembers between runs and processes, in a small
// JSON file next to the database: the validators for conditional requests
// and the last attempt, so `sipprot geoip status` can show them.
type state struct {
	URL          string    `json:"url,omitempty"`           // redacted, to match validators to a URL
	ETag         string    `json:"etag,omitempty"`          // of the response that gave the file
	LastModified string    `json:"last_modified,omitempty"` // likewise
	SHA256       string    `json:"sha256,omitempty"`        // the file these belong to
	Source       string    `json:"source,omitempty"`        // where that file came from
	CheckedAt    time.Time `json:"checked_at,omitzero"`     // last attempt that succeeded
	AttemptAt    time.Time `json:"attempt_at,omitzero"`
	Result       string    `json:"result,omitempty"` // updated, unchanged or failed
	Error        string    `json:"error,omitempty"`  // why the last attempt failed
}

// statePath is the sidecar of the database file.
func (s *Store) statePath() string {
	if s.cfg.Database == "" {
		return ""
	}
	return s.cfg.Database + ".update.json"
}

// readState returns the zero state for a missing or unreadable file: it
// only saves a download, it never decides anything.
func readState(path string) state {
	var st state
	if path == "" {
		return st
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return state{}
	}
	return st
}

func writeState(path string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode update state: %w", err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}
