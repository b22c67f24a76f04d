package attacks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// maxLineLen bounds one line of the attack log; a longer one is skipped
// like any other bad line, without reading it into memory whole.
const maxLineLen = 1 << 20

// ReadDay reads the attack log of date (YYYY-MM-DD) from the state
// directory dir. Lines that are not whole, valid entries (a line torn by a
// crash, garbage) are skipped and counted, never an error. A missing day
// file is an error wrapping fs.ErrNotExist.
func ReadDay(dir, date string) (entries []Entry, skipped int, err error) {
	skipped, err = scanDay(dir, date, func(e *Entry) { entries = append(entries, *e) })
	return entries, skipped, err
}

// scanDay calls fn for every valid line of a day file, in file order, so a
// long day is never held in memory whole. fn must not keep e.
func scanDay(dir, date string, fn func(e *Entry)) (skipped int, err error) {
	if _, ok := dayOfFile(date + ".jsonl"); !ok {
		return 0, fmt.Errorf("attack log: bad date %q, want YYYY-MM-DD", date)
	}
	path := Path(dir, date)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("attack log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var line []byte
	tooLong := false
	for {
		chunk, rerr := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLineLen {
			tooLong = true
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr != nil && rerr != io.EOF {
			return skipped, fmt.Errorf("attack log: %s: %w", path, rerr)
		}
		switch text := bytes.TrimSpace(line); {
		case tooLong:
			skipped++
		case len(text) == 0:
			// blank, such as the end of the file
		default:
			var e Entry
			if parseEntry(text, &e) {
				fn(&e)
			} else {
				skipped++
			}
		}
		line, tooLong = line[:0], false
		if rerr == io.EOF {
			return skipped, nil
		}
	}
}

// parseEntry decodes one line and checks it is an entry a report can use.
func parseEntry(text []byte, e *Entry) bool {
	if json.Unmarshal(text, e) != nil || e.At.IsZero() {
		return false
	}
	switch e.Event {
	case LineBlock, LineLift:
		return reasonName(e.Reason) && e.IP.IsValid()
	case LineDrops:
		for r := range e.ByReason {
			if !reasonName(r) {
				return false
			}
		}
		for a := range e.BySource {
			if !a.IsValid() {
				return false
			}
		}
		return true
	}
	return false
}

// reasonName reports whether s looks like a reason name. Names this
// version does not know are kept: a newer sipprot may have written them.
func reasonName(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return s != "" && len(s) <= 32
}

// Days lists the days (YYYY-MM-DD, oldest first) that have an attack
// log in the state directory dir. No log at all is an empty list.
func Days(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attack log: %w", err)
	}
	days := []string{}
	for _, e := range ents {
		if day, ok := dayOfFile(e.Name()); ok && e.Type().IsRegular() {
			days = append(days, day)
		}
	}
	slices.Sort(days)
	return days, nil
}

// sourceTally is what a report knows of one source.
type sourceTally struct {
	addr      netip.Addr
	blocks    int
	dropped   uint64
	latest    time.Time // of its latest block
	reason    string
	userAgent string
	country   string
	permanent bool
}

// BuildReport reads the attack log of day's local date (in loc; nil means
// time.Local) from the state directory dir and sums it up. A day with no
// file is a quiet report, not an error. It also returns how many bad lines
// it skipped, for the caller to report.
func BuildReport(dir string, day time.Time, loc *time.Location) (Report, int, error) {
	if loc == nil {
		loc = time.Local
	}
	r := Report{
		Date:            day.In(loc).Format(dayLayout),
		AttacksByReason: map[string]int{},
		DroppedByReason: map[string]uint64{},
		TopSources:      []Source{},
		Hours:           make([]Hour, 24),
	}
	for h := range r.Hours {
		r.Hours[h].Hour = h
	}
	sources := map[netip.Addr]*sourceTally{}
	source := func(a netip.Addr) *sourceTally {
		s := sources[a]
		if s == nil {
			s = &sourceTally{addr: a}
			sources[a] = s
		}
		return s
	}
	skipped, err := scanDay(dir, r.Date, func(e *Entry) {
		hour := &r.Hours[e.At.In(loc).Hour()]
		switch e.Event {
		case LineBlock:
			r.Attacks++
			r.AttacksByReason[e.Reason]++
			if e.Permanent {
				r.MadePermanent++
			}
			hour.Attacks++
			s := source(e.IP.Unmap())
			s.blocks++
			s.permanent = s.permanent || e.Permanent
			if !e.At.Before(s.latest) {
				s.latest, s.reason, s.userAgent, s.country = e.At, e.Reason, e.UserAgent, e.Country
			}
		case LineLift:
			r.BlocksLifted++
			hour.BlocksLifted++
		case LineDrops:
			for reason, n := range e.ByReason {
				r.Dropped += n
				r.DroppedByReason[reason] += n
				hour.Dropped += n
			}
			for a, n := range e.BySource {
				source(a.Unmap()).dropped += n
			}
			r.UnboundCredentials += e.UnboundCredentials
			r.ProvenRefused += e.ProvenRefused
		}
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Report{}, skipped, fmt.Errorf("report %s: %w", r.Date, err)
	}
	r.BlocksMade = r.Attacks
	r.TopSources = topSources(sources)
	return r, skipped, nil
}

// topSources ranks the sources by blocks, then dropped packets, then
// address, and keeps the first ReportTopSources.
func topSources(sources map[netip.Addr]*sourceTally) []Source {
	all := make([]*sourceTally, 0, len(sources))
	for _, s := range sources {
		if s.blocks > 0 || s.dropped > 0 {
			all = append(all, s)
		}
	}
	slices.SortFunc(all, func(a, b *sourceTally) int {
		switch {
		case a.blocks != b.blocks:
			return b.blocks - a.blocks
		case a.dropped > b.dropped:
			return -1
		case a.dropped < b.dropped:
			return 1
		}
		return a.addr.Compare(b.addr)
	})
	out := make([]Source, 0, min(len(all), TopSources))
	for _, s := range all[:min(len(all), TopSources)] {
		out = append(out, Source{IP: s.addr.String(), Country: s.country, UserAgent: s.userAgent,
			Reason: s.reason, Blocks: s.blocks, Dropped: s.dropped, Permanent: s.permanent})
	}
	return out
}
