package attacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sipprot/sipprot/atomicfile"

	"github.com/sipprot/sipprot/policy"
)

// The attack log is one JSON-lines file per local day under
// <state dir>/attacks/. Blocks and lifts are one line each; dropped packets
// are only counted in memory and written as one "drops" line per hour of
// the day and write, so a flood of a million packets costs a few lines.
// Files are only ever appended to, so a crash can tear at most the last
// line, which readers skip.

// Dir is the directory, inside the state directory, of the attack
// log's day files.
const Dir = "attacks"

// DefaultRetentionDays is how many days the attack log keeps when the
// config does not say.
const DefaultRetentionDays = 90

// DefaultDropsEvery is how often Flush writes the dropped-packet counts:
// blocks are written at every Flush, but a day-long flood would otherwise
// write a drops line every second.
const DefaultDropsEvery = time.Minute

// Attack log line kinds, the "event" of each line.
const (
	LineBlock = "block"
	LineLift  = "lift"
	LineDrops = "drops"
)

// maxDropSources bounds the sources counted one by one in each hour between
// two drops lines; the others still count in the totals. It keeps the
// memory and the line of a spoofed-source flood small.
const maxDropSources = 1000

// maxPending bounds the bytes kept for retry when the disk refuses writes.
const maxPending = 8 << 20

// dayLayout names the day files: dayLayout + ".jsonl".
const dayLayout = time.DateOnly

// ErrPrune marks the errors of Prune, so that a caller of Open
// can tell them apart: the log is usable all the same.
var ErrPrune = errors.New("attack log: prune")

// Entry is one line of the attack log as read back. Block and lift
// lines fill IP and Reason (block lines also UserAgent, Country, Permanent
// and Count); drops lines fill ByReason and BySource, and the counters of
// forged-looking traffic that made no failure (absent before sipprot
// counted them: read as 0).
type Entry struct {
	At        time.Time             `json:"at"`
	Event     string                `json:"event"`
	IP        netip.Addr            `json:"ip"`
	Reason    string                `json:"reason"`
	UserAgent string                `json:"user_agent"`
	Country   string                `json:"country"`
	Permanent bool                  `json:"permanent"`
	Count     int                   `json:"count"`
	ByReason  map[string]uint64     `json:"by_reason"`
	BySource  map[netip.Addr]uint64 `json:"by_source"`
	// UnboundCredentials and ProvenRefused: see policy.Stats (Unbound,
	// ProvenRefused).
	UnboundCredentials uint64 `json:"unbound_credentials"`
	ProvenRefused      uint64 `json:"failures_refused_proven"`
}

// The lines as written: one struct per kind, so each has exactly its keys.
type blockLine struct {
	At        time.Time  `json:"at"`
	Event     string     `json:"event"`
	IP        netip.Addr `json:"ip"`
	Reason    string     `json:"reason"`
	UserAgent string     `json:"user_agent"`
	Country   string     `json:"country"`
	Permanent bool       `json:"permanent"`
	Count     int        `json:"count"`
}

type liftLine struct {
	At     time.Time  `json:"at"`
	Event  string     `json:"event"`
	IP     netip.Addr `json:"ip"`
	Reason string     `json:"reason"`
}

type dropsLine struct {
	At                 time.Time             `json:"at"`
	Event              string                `json:"event"`
	ByReason           map[string]uint64     `json:"by_reason"`
	BySource           map[netip.Addr]uint64 `json:"by_source"`
	UnboundCredentials uint64                `json:"unbound_credentials,omitempty"`
	ProvenRefused      uint64                `json:"failures_refused_proven,omitempty"`
}

// Log appends the engine's events to the day files. Record and Flush
// may run concurrently.
type Log struct {
	dir  string // <state dir>/attacks
	keep int
	loc  *time.Location

	flushMu sync.Mutex // one write at a time, so lines keep their order

	mu           sync.Mutex
	closed       bool
	dropsEvery   time.Duration
	pending      map[string][]byte // day -> lines not yet written
	pendingBytes int
	lost         uint64

	// Drop counts, one bucket per local (day, hour). cur is the bucket of
	// the latest drop, valid for times in [curFrom, curTo), so a flood
	// costs a comparison rather than a time zone lookup per packet.
	cur            *dropBucket
	curFrom, curTo time.Time
	buckets        []*dropBucket
	spare          []*dropBucket // reset buckets kept to spare allocations
}

type dropBucket struct {
	day      string
	hour     int
	opened   time.Time // when it began counting since its last write
	last     time.Time // the latest drop it counts
	total    uint64
	byReason [policy.NumReasons]uint64
	// unbound and provenRefused ride on the drops line: they are per-packet
	// counters too, and a forged flood must not cost a line per request.
	unbound, provenRefused uint64
	bySource               map[netip.Addr]uint64
}

// Open opens the attack log under dir/attacks, creating the
// directory, and prunes the days past retention (retentionDays < 1 means
// DefaultRetentionDays). loc is the time zone that cuts days and hours;
// nil means time.Local. A pruning failure is returned wrapped in ErrPrune
// together with a usable log, so the caller can log it and go on.
func Open(dir string, retentionDays int, loc *time.Location) (*Log, error) {
	if retentionDays < 1 {
		retentionDays = DefaultRetentionDays
	}
	if loc == nil {
		loc = time.Local
	}
	l := &Log{dir: filepath.Join(dir, Dir), keep: retentionDays, loc: loc, dropsEvery: DefaultDropsEvery}
	if err := os.MkdirAll(l.dir, 0o750); err != nil {
		return nil, fmt.Errorf("attack log: %w", err)
	}
	if _, err := l.Prune(time.Now()); err != nil {
		return l, err
	}
	return l, nil
}

// SetDropsEvery sets how often Flush writes the dropped-packet counts;
// 0 writes them at every Flush. Close always writes them.
func (l *Log) SetDropsEvery(d time.Duration) {
	l.mu.Lock()
	l.dropsEvery = d
	l.mu.Unlock()
}

// Lost returns how many lines were thrown away because the disk kept
// refusing them and the retry buffer was full.
func (l *Log) Lost() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Record takes one block or lift event, encoded and kept for the next
// Flush. Events after Close are ignored.
func (l *Log) Record(ev policy.Event) {
	switch ev.Kind {
	case policy.EventBlock:
		at := ev.At.In(l.loc)
		l.addLine(at, blockLine{At: at, Event: LineBlock, IP: ev.Addr.Unmap(), Reason: ev.Reason.String(),
			UserAgent: ev.UserAgent, Country: ev.Country, Permanent: ev.Permanent, Count: ev.Count})
	case policy.EventUnblock:
		at := ev.At.In(l.loc)
		l.addLine(at, liftLine{At: at, Event: LineLift, IP: ev.Addr.Unmap(), Reason: ev.Reason.String()})
	}
}

// RecordDrops adds one sample of the engine's drop counters to the hour
// of its time; Flush writes them as drops lines. It moves counters only,
// so a flood costs one call per sample, not per packet.
func (l *Log) RecordDrops(s *policy.DropSample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || s.Total() == 0 && s.Unbound == 0 && s.ProvenRefused == 0 {
		return
	}
	at := s.At.Round(0) // the day follows the wall clock, not the monotonic one
	b := l.cur
	if b == nil || at.Before(l.curFrom) || !at.Before(l.curTo) {
		b = l.bucketFor(at)
	}
	for r, n := range s.ByReason {
		b.byReason[r] += n
		b.total += n
	}
	b.unbound += s.Unbound
	b.provenRefused += s.ProvenRefused
	if at.After(b.last) {
		b.last = at
	}
	for a, n := range s.BySource {
		a = a.Unmap()
		if _, ok := b.bySource[a]; ok || len(b.bySource) < maxDropSources {
			b.bySource[a] += n
		}
	}
}

func (l *Log) addLine(at time.Time, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // only a time past year 9999 fails, and it has no day file
	}
	b = append(b, '\n')
	day := at.Format(dayLayout)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.queue(day, b, false)
}

// queue adds lines to a day's pending data, in front of what is there when
// they are a retry. Beyond maxPending the lines are counted lost. l.mu is
// held.
func (l *Log) queue(day string, b []byte, retry bool) {
	if l.pendingBytes+len(b) > maxPending {
		for _, c := range b {
			if c == '\n' {
				l.lost++
			}
		}
		return
	}
	if l.pending == nil {
		l.pending = make(map[string][]byte)
	}
	if retry {
		l.pending[day] = append(b, l.pending[day]...)
	} else {
		l.pending[day] = append(l.pending[day], b...)
	}
	l.pendingBytes += len(b)
}

// bucketFor finds or starts the bucket of at's local hour and makes it
// the current one. l.mu is held.
func (l *Log) bucketFor(at time.Time) *dropBucket {
	day, hour, from, to := localHour(at, l.loc)
	var b *dropBucket
	for _, x := range l.buckets {
		if x.day == day && x.hour == hour {
			b = x
			break
		}
	}
	if b == nil {
		if n := len(l.spare); n > 0 {
			b, l.spare = l.spare[n-1], l.spare[:n-1]
		} else {
			b = &dropBucket{bySource: make(map[netip.Addr]uint64)}
		}
		b.day, b.hour, b.opened, b.last = day, hour, time.Now(), at
		l.buckets = append(l.buckets, b)
	}
	l.cur, l.curFrom, l.curTo = b, from, to
	return b
}

// localHour returns t's local day and hour, and the span of absolute time
// around t that has the same day and hour.
func localHour(t time.Time, loc *time.Location) (day string, hour int, from, to time.Time) {
	lt := t.In(loc)
	_, off := lt.Zone()
	into := time.Duration(lt.Minute())*time.Minute + time.Duration(lt.Second())*time.Second +
		time.Duration(lt.Nanosecond())
	from, to = t.Add(-into), t.Add(time.Hour-into)
	// A UTC offset change inside the hour (DST) bends the wall clock there:
	// trust the span only up to t then.
	if _, o := from.In(loc).Zone(); o != off {
		from = t
	}
	if _, o := to.Add(-1).In(loc).Zone(); o != off {
		to = t.Add(1)
	}
	return lt.Format(dayLayout), lt.Hour(), from, to
}

// takeDrops turns the buckets due (all of them with all) into drops lines
// in the pending data and resets them. l.mu is held.
func (l *Log) takeDrops(all bool) {
	kept := l.buckets[:0]
	for _, b := range l.buckets {
		if !all && time.Since(b.opened) < l.dropsEvery {
			kept = append(kept, b)
			continue
		}
		if b.total > 0 || b.unbound > 0 || b.provenRefused > 0 {
			line := dropsLine{At: b.last.In(l.loc), Event: LineDrops, ByReason: make(map[string]uint64), BySource: b.bySource,
				UnboundCredentials: b.unbound, ProvenRefused: b.provenRefused}
			for r, n := range b.byReason {
				if n > 0 {
					line.ByReason[policy.Reason(r).String()] += n
				}
			}
			if data, err := json.Marshal(line); err == nil {
				l.queue(b.day, append(data, '\n'), false)
			}
		}
		clear(b.bySource)
		b.byReason = [policy.NumReasons]uint64{}
		b.total, b.unbound, b.provenRefused = 0, 0, 0
		l.spare = append(l.spare, b)
	}
	clear(l.buckets[len(kept):])
	l.buckets = kept
	l.cur = nil
}

// Flush appends the pending lines to their day files and syncs them. The
// dropped-packet counts are written when due (see SetDropsEvery). Lines a
// failed write did not store are kept for the next Flush.
func (l *Log) Flush() error {
	return l.flush(false)
}

// FlushAll is Flush with the dropped-packet counts written now: for a
// report asked for while the daemon runs.
func (l *Log) FlushAll() error {
	return l.flush(true)
}

func (l *Log) flush(all bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	l.takeDrops(all || l.dropsEvery <= 0)
	batch := l.pending
	l.pending, l.pendingBytes = nil, 0
	l.mu.Unlock()

	days := make([]string, 0, len(batch))
	for day := range batch {
		days = append(days, day)
	}
	slices.Sort(days)
	var errs []error
	for _, day := range days {
		data := batch[day]
		n, err := l.appendDay(day, data)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		// Retry from the first line not wholly written; the torn part,
		// if any, becomes a bad line that readers skip.
		rest := data[n:]
		if i := lastNewline(data[:n]); n > 0 && data[n-1] != '\n' {
			rest = data[i+1:]
		}
		if len(rest) > 0 {
			l.mu.Lock()
			l.queue(day, slices.Clone(rest), true)
			l.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// appendDay appends data to a day file and syncs it. It returns how many
// bytes of data were written; after a failed sync it claims them all,
// since retrying could write them twice.
func (l *Log) appendDay(day string, data []byte) (int, error) {
	path := filepath.Join(l.dir, day+".jsonl")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("attack log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("attack log: %w", err)
	}
	if fi.Size() > 0 {
		// A torn last line (crash mid-write) must not swallow the first
		// line of this write: end it first.
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err != nil {
			return 0, fmt.Errorf("attack log: %w", err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				return 0, fmt.Errorf("attack log: %w", err)
			}
		}
	}
	n, err := f.Write(data)
	if err != nil {
		return n, fmt.Errorf("attack log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("attack log: %w", err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("attack log: %w", err)
	}
	if fi.Size() == 0 {
		atomicfile.SyncDir(l.dir) // a new file's name must survive a crash too
	}
	return n, nil
}

// Close writes everything pending, the drop counts included. Later events
// are ignored.
func (l *Log) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.flush(true)
}

// Prune deletes the day files more than the retention days older than
// now's local day: the log keeps today and retentionDays days before it.
// Only regular files named like a day file are ever removed.
func (l *Log) Prune(now time.Time) (removed int, err error) {
	lt := now.In(l.loc)
	cutoff := time.Date(lt.Year(), lt.Month(), lt.Day()-l.keep, 12, 0, 0, 0, l.loc).Format(dayLayout)
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPrune, err)
	}
	var errs []error
	for _, e := range ents {
		day, ok := dayOfFile(e.Name())
		if !ok || !e.Type().IsRegular() || day >= cutoff {
			continue
		}
		if err := os.Remove(filepath.Join(l.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("%w: %w", ErrPrune, errors.Join(errs...))
	}
	return removed, nil
}

// dayOfFile returns the day a day file is named for, and false for any
// other name.
func dayOfFile(name string) (string, bool) {
	const suffix = ".jsonl"
	if len(name) != len(dayLayout)+len(suffix) || name[len(dayLayout):] != suffix {
		return "", false
	}
	day := name[:len(dayLayout)]
	t, err := time.Parse(dayLayout, day)
	if err != nil || t.Format(dayLayout) != day {
		return "", false
	}
	return day, true
}

// Path returns the day file of date (YYYY-MM-DD) in the state
// directory dir.
func Path(dir, date string) string {
	return filepath.Join(dir, Dir, date+".jsonl")
}
