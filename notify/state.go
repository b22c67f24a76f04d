package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sipprot/sipprot/atomicfile"
	"github.com/sipprot/sipprot/policy"
)

// On disk, under the state directory:
//
//	notify/state.json        the blocks waiting for the next alert, when
//	                         the last alert and daily summary were made,
//	                         the last delivery (what `sipprot status` shows)
//	notify/outbox/ID.json    one rendered email waiting for delivery
//
// Every file is replaced atomically. An alert's blocks leave state.json
// only once its email is in the outbox (written first; a restart between
// the two writes finds the email by its sequence number and drops the
// blocks it holds), and the email leaves the outbox only after the server
// accepted it. So each block is in exactly one alert, and each email is
// delivered once, except if the process dies in the instant between the
// server's "250" and the removal of the file: then it is sent again,
// with the same Message-ID.

// Names in the state directory.
const (
	// DirName is the notifier's directory in the state directory.
	DirName    = "notify"
	stateName  = "state.json"
	outboxName = "outbox"
)

// Status is how notifications are doing, for `sipprot status`.
type Status struct {
	// LastDelivery is when the last delivery was tried, LastOK whether
	// the server accepted it, LastResult its answer or the error.
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	LastOK       bool      `json:"last_ok"`
	LastResult   string    `json:"last_result,omitempty"`
	LastSubject  string    `json:"last_subject,omitempty"`
	// Pending is how many emails wait in the outbox; NextTry is when the
	// next delivery is tried, if any waits.
	Pending int       `json:"pending"`
	NextTry time.Time `json:"next_try,omitzero"`
	// PendingBlocks are the blocks waiting for the next alert, due at
	// NextAlert.
	PendingBlocks int       `json:"pending_blocks"`
	NextAlert     time.Time `json:"next_alert,omitzero"`
	// Off says why no email is sent ("no recipients", "smtp.host is
	// empty"); empty when notifications are on.
	Off string `json:"off,omitempty"`
}

// Summary is the one line `sipprot status` prints.
func (s Status) Summary() string {
	var b strings.Builder
	b.WriteString("notify: ")
	if s.Off != "" {
		b.WriteString("off (" + s.Off + ")")
	} else {
		b.WriteString("on")
	}
	switch {
	case s.LastDelivery.IsZero():
		b.WriteString("; no email sent yet")
	case s.LastOK:
		fmt.Fprintf(&b, "; last email %s: %s", s.LastDelivery.Format(time.RFC3339), s.LastResult)
	default:
		fmt.Fprintf(&b, "; last delivery failed %s: %s", s.LastDelivery.Format(time.RFC3339), s.LastResult)
	}
	fmt.Fprintf(&b, "; %s waiting", plural(s.Pending, "email", "emails"))
	if s.Pending > 0 && !s.NextTry.IsZero() {
		fmt.Fprintf(&b, " (next try %s)", s.NextTry.Format(time.RFC3339))
	}
	if s.PendingBlocks > 0 {
		fmt.Fprintf(&b, "; %s for the next alert", plural(s.PendingBlocks, "block", "blocks"))
	}
	return b.String()
}

// ReadStatus reads the notification status from the state directory, for
// `sipprot status` whether or not the daemon runs. A state directory
// without notifications yields the zero Status.
func ReadStatus(stateDir string) (Status, error) {
	dir := filepath.Join(stateDir, DirName)
	doc, err := readState(dir)
	if err != nil {
		return Status{}, fmt.Errorf("notify status: %w", err)
	}
	st := doc.Status
	// The outbox is the truth about what waits.
	st.Pending, st.NextTry = 0, time.Time{}
	names, err := outboxFiles(dir)
	if err != nil {
		return Status{}, fmt.Errorf("notify status: %w", err)
	}
	for _, name := range names {
		var m Mail
		data, err := os.ReadFile(filepath.Join(dir, outboxName, name))
		if err != nil || json.Unmarshal(data, &m) != nil {
			continue
		}
		st.Pending++
		if st.NextTry.IsZero() || m.NextTry.Before(st.NextTry) {
			st.NextTry = m.NextTry
		}
	}
	return st, nil
}

// batchEntry is one source in the next alert.
type batchEntry struct {
	Addr      netip.Addr `json:"ip"`
	Reason    string     `json:"reason"`
	UserAgent string     `json:"user_agent"`
	Country   string     `json:"country"`
	Count     int        `json:"count"`  // the source's blocks in all, from the engine
	Blocks    int        `json:"blocks"` // its blocks in this batch
	First     time.Time  `json:"first"`
	Last      time.Time  `json:"last"`
	Permanent bool       `json:"permanent"`
	Until     time.Time  `json:"until,omitzero"`
}

const overflowFactor = 16

// batch is the blocks made since the last alert: one entry per source, at
// most limit sources listed; the blocks of further sources are counted,
// so memory stays bounded under a flood of sources and none is lost.
type batch struct {
	Entries     []batchEntry `json:"entries"`
	MoreBlocks  int          `json:"more_blocks"`
	MoreSources int          `json:"more_sources"`
	index       map[netip.Addr]int
	// overflow remembers unlisted sources, up to overflowFactor times
	// the limit, to count them; past that each block counts as a source.
	overflow map[netip.Addr]bool
}

func (b *batch) empty() bool { return len(b.Entries) == 0 && b.MoreBlocks == 0 }

func (b *batch) blocks() int {
	n := b.MoreBlocks
	for _, e := range b.Entries {
		n += e.Blocks
	}
	return n
}

// add merges one block event.
func (b *batch) add(ev policy.Event, limit int) {
	if b.index == nil {
		b.reindex()
	}
	if i, ok := b.index[ev.Addr]; ok {
		e := &b.Entries[i]
		e.Blocks++
		e.Last = ev.At
		e.Reason, e.Count, e.Permanent, e.Until = ev.Reason.String(), ev.Count, ev.Permanent, ev.Until
		if ev.UserAgent != "" {
			e.UserAgent = ev.UserAgent
		}
		if ev.Country != "" {
			e.Country = ev.Country
		}
		return
	}
	if len(b.Entries) >= limit {
		b.MoreBlocks++
		if b.overflow == nil {
			b.overflow = map[netip.Addr]bool{}
		}
		if !b.overflow[ev.Addr] {
			b.MoreSources++
			if len(b.overflow) < overflowFactor*limit {
				b.overflow[ev.Addr] = true
			}
		}
		return
	}
	b.index[ev.Addr] = len(b.Entries)
	b.Entries = append(b.Entries, batchEntry{Addr: ev.Addr, Reason: ev.Reason.String(), UserAgent: ev.UserAgent,
		Country: ev.Country, Count: ev.Count, Blocks: 1, First: ev.At, Last: ev.At, Permanent: ev.Permanent, Until: ev.Until})
}

func (b *batch) reindex() {
	b.index = make(map[netip.Addr]int, len(b.Entries))
	for i, e := range b.Entries {
		b.index[e.Addr] = i
	}
}

// clone copies the batch for writing outside the lock.
func (b *batch) clone() batch {
	return batch{Entries: slices.Clone(b.Entries), MoreBlocks: b.MoreBlocks, MoreSources: b.MoreSources}
}

// stateDoc is state.json.
type stateDoc struct {
	Version int `json:"version"`
	// Seq is the sequence number of the last email rendered.
	Seq uint64 `json:"seq"`
	// LastAlert is when the last alert was rendered; the next comes
	// per_attack_every later at the earliest.
	LastAlert time.Time `json:"last_alert,omitzero"`
	// LastDaily is the last day (YYYY-MM-DD) a daily summary was made
	// for, or found quiet, or skipped because notifications were off.
	LastDaily string    `json:"last_daily,omitempty"`
	Batch     batch     `json:"batch"`
	Status    Status    `json:"status"`
	Saved     time.Time `json:"saved"`
}

func readState(dir string) (stateDoc, error) {
	var doc stateDoc
	path := filepath.Join(dir, stateName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("%s: %w", path, err)
	}
	doc.Batch.reindex()
	return doc, nil
}

func writeState(dir string, doc *stateDoc) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("save notify state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, stateName), data, 0o600); err != nil {
		return fmt.Errorf("save notify state: %w", err)
	}
	return nil
}

// outboxFiles lists the outbox's emails in sequence order, skipping the
// temporary files of an interrupted write.
func outboxFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, outboxName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && !strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".json") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

func writeMail(dir string, m *Mail) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save email %s: %w", m.ID, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, outboxName, m.ID+".json"), data, 0o600); err != nil {
		return fmt.Errorf("save email %s: %w", m.ID, err)
	}
	return nil
}

func removeMail(dir string, m *Mail) error {
	err := os.Remove(filepath.Join(dir, outboxName, m.ID+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove sent email %s: %w", m.ID, err)
	}
	return nil
}

// removeTemps deletes what an interrupted atomic write left in dir:
// ".NAME.<digits>" files.
func removeTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !e.Type().IsRegular() {
			continue
		}
		if i := strings.LastIndexByte(n, '.'); i > 0 && strings.Trim(n[i+1:], "0123456789") == "" && i+1 < len(n) {
			os.Remove(filepath.Join(dir, n))
		}
	}
}

// moveAside renames a corrupt file out of the way, keeping it for the
// operator, so notifications carry on.
func moveAside(path string, now time.Time) string {
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil {
		return ""
	}
	return aside
}
