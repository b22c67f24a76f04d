package savedblocks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sipprot/sipprot/atomicfile"

	"github.com/sipprot/sipprot/policy"
)

// File is the name, in the state directory, of the saved dynamic
// blocks. It is rewritten whole (temp file, fsync, rename), so a crash
// leaves the previous or the new version, never half of one.
const File = "blocks.json"

// JSON is one block as written to disk and printed by `status --json`.
type JSON struct {
	IP        netip.Addr `json:"ip"`
	Reason    string     `json:"reason"`
	Active    bool       `json:"active"`
	Permanent bool       `json:"permanent"`
	Count     int        `json:"count"`
	Hits      int        `json:"hits"`
	First     time.Time  `json:"first"`
	Last      time.Time  `json:"last"`
	Until     time.Time  `json:"until,omitzero"`
	UserAgent string     `json:"user_agent"`
	Country   string     `json:"country"`
}

type blocksDoc struct {
	Version int       `json:"version"`
	Saved   time.Time `json:"saved"`
	Blocks  []JSON    `json:"blocks"`
}

// ToJSON converts an engine block to its JSON form.
func ToJSON(b policy.BlockState) JSON {
	j := JSON{IP: b.Addr, Reason: b.Reason.String(), Active: b.Active, Permanent: b.Permanent,
		Count: b.Count, Hits: b.Hits, First: b.First.UTC(), Last: b.Last.UTC(), UserAgent: b.UserAgent, Country: b.Country}
	if !b.Until.IsZero() {
		j.Until = b.Until.UTC()
	}
	return j
}

// Save writes the engine's blocks to dir/blocks.json atomically.
func Save(dir string, blocks []policy.BlockState, now time.Time) error {
	doc := blocksDoc{Version: 1, Saved: now.UTC(), Blocks: make([]JSON, 0, len(blocks))}
	for _, b := range blocks {
		doc.Blocks = append(doc.Blocks, ToJSON(b))
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("save blocks: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, File), data, 0o600); err != nil {
		return fmt.Errorf("save blocks: %w", err)
	}
	return nil
}

// Load reads dir/blocks.json; a missing file means no blocks. A
// corrupt file is an error: the daemon refuses to start rather than forget
// the blocks silently.
func Load(dir string) ([]policy.BlockState, error) {
	path := filepath.Join(dir, File)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load blocks: %w", err)
	}
	var doc blocksDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("load blocks: %s: %w", path, err)
	}
	out := make([]policy.BlockState, 0, len(doc.Blocks))
	for i, b := range doc.Blocks {
		st, err := FromJSON(b)
		if err != nil {
			return nil, fmt.Errorf("load blocks: %s: block %d: %w", path, i+1, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// FromJSON converts a block back to the engine's form.
func FromJSON(b JSON) (policy.BlockState, error) {
	r, ok := policy.ParseReason(b.Reason)
	if !ok || !b.IP.IsValid() {
		return policy.BlockState{}, fmt.Errorf("bad ip %q or reason %q", b.IP, b.Reason)
	}
	return policy.BlockState{Addr: b.IP, Reason: r, Active: b.Active, Permanent: b.Permanent,
		Count: b.Count, Hits: b.Hits, First: b.First, Last: b.Last, Until: b.Until, UserAgent: b.UserAgent, Country: b.Country}, nil
}

// RemoveStaleTemp deletes the temporary files that a crash in the middle of
// atomicfile.Write left in dir (".NAME.<digits>"); the real files are
// untouched.
func RemoveStaleTemp(dir string) {
	for _, name := range []string{File, "status.json"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "."+name+".*"))
		for _, m := range matches {
			if isDigits(strings.TrimPrefix(filepath.Base(m), "."+name+".")) {
				os.Remove(m)
			}
		}
	}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// MoveAside renames a corrupt state file to NAME.corrupt-TIMESTAMP beside
// it, so the daemon can start without it while the operator keeps it to
// look at. It returns the new path.
func MoveAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move aside: %w", err)
	}
	return aside, nil
}
