package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sipprot/sipprot/atomicfile"
)

const (
	kindBlock   = "block"
	kindUnblock = "unblock"
)

// outboxEntry is one push waiting for the LAPI, one file in the outbox.
type outboxEntry struct {
	V         int        `json:"v"`
	ID        string     `json:"id"` // also sent as alert meta, to find it again
	Kind      string     `json:"kind"`
	Addr      netip.Addr `json:"addr"`
	Reason    string     `json:"reason,omitempty"`
	Start     time.Time  `json:"start,omitzero"`
	Until     time.Time  `json:"until,omitzero"` // zero: permanent
	UserAgent string     `json:"user_agent,omitempty"`
	Country   string     `json:"country,omitempty"`
	Queued    time.Time  `json:"queued"`

	seq uint64 // file name; order of sending
	// uncertain: the LAPI may hold this entry already (read back after a
	// restart, or its send ended without an answer). Checked before resend.
	uncertain bool
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return hex.EncodeToString(b[:])
}

// outbox is a directory of entries "<seq>.json", each written whole
// (temporary file, fsync, rename, directory fsync) and removed only after
// the LAPI answered 2xx for it. The pusher goroutine owns it.
type outbox struct {
	dir     string
	log     *slog.Logger
	entries []outboxEntry // by seq
	next    uint64
}

const outboxSuffix = ".json"

func openOutbox(dir string, log *slog.Logger) (*outbox, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("fleet outbox: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet outbox: %w", err)
	}
	ob := &outbox{dir: dir, log: log, next: 1}
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, outboxSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, outboxSuffix), 10, 64)
		if err != nil {
			continue
		}
		e, err := readEntry(filepath.Join(dir, name))
		if err != nil {
			// Keep the bytes for a human, out of the way of the sender.
			log.Error("fleet outbox: unreadable entry set aside", "file", name, "err", err)
			_ = os.Rename(filepath.Join(dir, name), filepath.Join(dir, name+".bad"))
			continue
		}
		e.seq = seq
		e.uncertain = e.Kind == kindBlock
		ob.entries = append(ob.entries, e)
		ob.next = max(ob.next, seq+1)
	}
	sort.Slice(ob.entries, func(i, j int) bool { return ob.entries[i].seq < ob.entries[j].seq })
	return ob, nil
}

func readEntry(path string) (outboxEntry, error) {
	var e outboxEntry
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.V != 1 || e.ID == "" || !e.Addr.IsValid() || (e.Kind != kindBlock && e.Kind != kindUnblock) {
		return e, fmt.Errorf("not a version 1 entry")
	}
	return e, nil
}

func (ob *outbox) len() int { return len(ob.entries) }

func (ob *outbox) path(seq uint64) string {
	return filepath.Join(ob.dir, fmt.Sprintf("%020d%s", seq, outboxSuffix))
}

// add writes e durably and appends it.
func (ob *outbox) add(e outboxEntry) error {
	e.seq = ob.next
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("fleet outbox: %w", err)
	}
	if err := atomicfile.Write(ob.path(e.seq), b, 0o640); err != nil {
		return fmt.Errorf("fleet outbox: %w", err)
	}
	ob.next++
	ob.entries = append(ob.entries, e)
	return nil
}

// done removes the first n entries, which the LAPI accepted. A removal
// lost in a crash only makes the entry uncertain on the next start, where
// the duplicate check finds it at the LAPI.
func (ob *outbox) done(n int) {
	for _, e := range ob.entries[:n] {
		if err := os.Remove(ob.path(e.seq)); err != nil && !os.IsNotExist(err) {
			ob.log.Error("fleet outbox: removing a sent entry", "err", err)
		}
	}
	ob.entries = append(ob.entries[:0], ob.entries[n:]...)
	_ = atomicfile.SyncDir(ob.dir)
}
