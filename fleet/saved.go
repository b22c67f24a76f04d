package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/sipprot/sipprot/atomicfile"
)

// SavedFile is the name, in the state directory, of the fleet decisions
// held at the last save: a restart enforces them before the first pull,
// which then lifts those gone meanwhile (Client.Seed).
const SavedFile = "fleet.json"

// savedDecision is one line of SavedFile's array.
type savedDecision struct {
	Prefix   netip.Prefix `json:"prefix"`
	Origin   string       `json:"origin"`
	Scenario string       `json:"scenario"`
	Until    time.Time    `json:"until"`
	ID       int64        `json:"id"`
}

// Save writes ds to dir/SavedFile atomically.
func Save(dir string, ds []Decision) error {
	out := make([]savedDecision, 0, len(ds))
	for _, d := range ds {
		out = append(out, savedDecision{d.Prefix, d.Origin, d.Scenario, d.Until.UTC(), d.ID})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("fleet decisions: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, SavedFile), data, 0o600); err != nil {
		return fmt.Errorf("saving fleet decisions: %w", err)
	}
	return nil
}

// Load reads dir/SavedFile, leaving out the decisions expired at now. A
// missing file is no decisions; a corrupt one is an error naming it (the
// caller starts without it: the first pull brings the set back).
func Load(dir string, now time.Time) ([]Decision, error) {
	path := filepath.Join(dir, SavedFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet decisions: %w", err)
	}
	var in []savedDecision
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ds := make([]Decision, 0, len(in))
	for i, s := range in {
		if !s.Prefix.IsValid() {
			return nil, fmt.Errorf("%s: entry %d: no valid prefix", path, i+1)
		}
		if s.Until.After(now) {
			ds = append(ds, Decision{Prefix: s.Prefix.Masked(), Origin: s.Origin, Scenario: s.Scenario, Until: s.Until, ID: s.ID})
		}
	}
	return ds, nil
}
