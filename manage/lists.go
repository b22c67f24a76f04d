package manage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/sipprot/sipprot/atomicfile"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/lists"
)

// Every list edit is a locked read-modify-write with an atomic rename
// (lists.Edit); then the running daemon is told to apply the files
// at once. Its file watcher would within a second anyway, which covers
// hand edits.

// Kind is one of the two lists, as the CLI names them.
type Kind string

// The two lists.
const (
	Allow Kind = "allow"
	Deny  Kind = "deny"
)

// Path is the list's file in c.
func (k Kind) Path(c *conf.Config) string {
	if k == Allow {
		return c.Lists.Allow
	}
	return c.Lists.Deny
}

// Where names the list and its file in messages.
func (k Kind) Where(c *conf.Config) string {
	return fmt.Sprintf("the %s list (%s)", k, k.Path(c))
}

// Overlap is a network of a change and the entries of the other list
// that it overlaps.
type Overlap struct {
	Prefix  netip.Prefix
	Matches []lists.Match
}

// AddResult is what List Add did.
type AddResult struct {
	Where  string
	Prefix netip.Prefix
	Result lists.AddResult
	// AlsoDenied are deny entries a newly allowed network overlaps: not
	// an error (allow wins), but the operator should know.
	AlsoDenied []Overlap
	// Applied is nil when nothing changed.
	Applied *ListsApplied
}

// Text is what the CLI prints on stdout.
func (r *AddResult) Text() string {
	var b strings.Builder
	p := lists.FormatPrefix(r.Prefix)
	switch r.Result {
	case lists.Added:
		fmt.Fprintf(&b, "added %s to %s\n", p, r.Where)
	case lists.Updated:
		fmt.Fprintf(&b, "updated the note of %s on %s\n", p, r.Where)
	default:
		fmt.Fprintf(&b, "%s is already on %s\n", p, r.Where)
	}
	for _, o := range r.AlsoDenied {
		fmt.Fprintf(&b, "note: %s overlaps the deny list: %s; the allow list wins\n", lists.FormatPrefix(o.Prefix), DescribeMatches(o.Matches))
	}
	if r.Applied != nil {
		b.WriteString(r.Applied.Text())
	}
	return b.String()
}

// Warnings are what the CLI prints on stderr.
func (r *AddResult) Warnings() []string { return r.Applied.warnings() }

func (a *ListsApplied) warnings() []string {
	if a == nil {
		return nil
	}
	return a.Warnings()
}

// Add puts an address or network on the list, or changes its note. A
// deny entry the allow list covers or overlaps is refused: the allow
// list wins, so it would not apply.
func (s *Service) Add(ctx context.Context, k Kind, addr, note string) (*AddResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	p, err := lists.ParsePrefix(addr)
	if err != nil {
		return nil, err
	}
	clean, err := lists.CleanNote(note)
	if err != nil {
		return nil, fmt.Errorf("--note: %w", err)
	}
	if k == Deny {
		allow, unlock, err := lockAllow(c)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if ms := allow.Overlaps(p); len(ms) > 0 {
			them := "that entry"
			if len(ms) > 1 {
				them = "those entries"
			}
			return nil, fmt.Errorf("refused: %w; to deny it, remove %s from the allow list first", allowConflict(p, ms), them)
		}
	}
	r := &AddResult{Where: k.Where(c), Prefix: p}
	if err := lists.Edit(k.Path(c), func(d *lists.Doc) error { r.Result = d.Add(lists.Entry{Prefix: p, Note: clean}); return nil }); err != nil {
		return nil, err
	}
	if r.Result == lists.Unchanged {
		return r, nil
	}
	var allowed []netip.Prefix
	if k == Allow && r.Result == lists.Added {
		r.AlsoDenied = alsoDenied(c, []netip.Prefix{p})
		allowed = []netip.Prefix{p}
	}
	r.Applied, err = s.applyLists(ctx, c, allowed)
	return r, err
}

// RemoveResult is what Remove or RemoveAll did.
type RemoveResult struct {
	Where string
	// Removed are the entries removed by Remove.
	Removed []netip.Prefix
	// All: RemoveAll emptied the list of Count entries.
	All     bool
	Count   int
	Applied *ListsApplied
}

// Text is what the CLI prints on stdout.
func (r *RemoveResult) Text() string {
	var b strings.Builder
	switch {
	case r.All:
		fmt.Fprintf(&b, "emptied %s: %s removed, comments kept\n", r.Where, Plural(r.Count, "entry", "entries"))
	case len(r.Removed) == 1:
		fmt.Fprintf(&b, "removed %s from %s\n", lists.FormatPrefix(r.Removed[0]), r.Where)
	default:
		fmt.Fprintf(&b, "removed %s from %s\n", Plural(len(r.Removed), "entry", "entries"), r.Where)
	}
	if r.Applied != nil {
		b.WriteString(r.Applied.Text())
	}
	return b.String()
}

// Warnings are what the CLI prints on stderr.
func (r *RemoveResult) Warnings() []string { return r.Applied.warnings() }

// Remove takes entries off the list, each as written (a network is
// removed whole, not carved). If one is not there, nothing is removed.
func (s *Service) Remove(ctx context.Context, k Kind, addrs []string) (*RemoveResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("give the addresses to remove, or --all")
	}
	var ps []netip.Prefix
	var bad []error
	for _, a := range addrs {
		p, err := lists.ParsePrefix(a)
		if err != nil {
			bad = append(bad, err)
		}
		ps = append(ps, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("nothing removed: %w", errors.Join(bad...))
	}
	err = lists.Edit(k.Path(c), func(d *lists.Doc) error {
		var absent []string
		for _, p := range ps {
			if _, ok := d.Find(p); ok {
				continue
			}
			s := lists.FormatPrefix(p) + " is not on it"
			if ms := d.Overlaps(p); len(ms) > 0 {
				s += "; it " + relation(p, ms) + " " + DescribeMatches(ms)
			}
			absent = append(absent, s)
		}
		if len(absent) > 0 {
			return fmt.Errorf("nothing removed from %s:\n%s", k.Where(c), strings.Join(absent, "\n"))
		}
		for _, p := range ps {
			d.Remove(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &RemoveResult{Where: k.Where(c), Removed: ps}
	r.Applied, err = s.applyLists(ctx, c, nil)
	return r, err
}

// RemoveAll empties the list and keeps its comments. confirm, if not
// nil, is asked first.
func (s *Service) RemoveAll(ctx context.Context, k Kind, confirm Confirm) (*RemoveResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	if confirm != nil {
		d, err := lists.ReadDoc(k.Path(c))
		if err != nil {
			return nil, err
		}
		ok, err := confirm(fmt.Sprintf("Remove all %s from %s? Comments stay.", Plural(d.Len(), "entry", "entries"), k.Where(c)),
			"remove --all empties "+k.Where(c))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("nothing removed from %s", k.Where(c))
		}
	}
	r := &RemoveResult{Where: k.Where(c), All: true}
	if err := lists.Edit(k.Path(c), func(d *lists.Doc) error { r.Count = d.RemoveAll(); return nil }); err != nil {
		return nil, err
	}
	r.Applied, err = s.applyLists(ctx, c, nil)
	return r, err
}

// Entry is a list entry in JSON outputs.
type Entry struct {
	Network string `json:"network"`
	Note    string `json:"note"`
}

// ListResult is a list: `allow list --json`.
type ListResult struct {
	List    Kind    `json:"list"`
	File    string  `json:"file"`
	Entries []Entry `json:"entries"`
	where   string
	entries []lists.Entry
}

// Text is the list as a table, network and note.
func (r *ListResult) Text() string {
	if len(r.entries) == 0 {
		return r.where + " is empty\n"
	}
	w := len("NETWORK")
	for _, e := range r.entries {
		w = max(w, len(lists.FormatPrefix(e.Prefix)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %s\n", w, "NETWORK", "NOTE")
	for _, e := range r.entries {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%-*s  %s", w, lists.FormatPrefix(e.Prefix), e.Note), " ") + "\n")
	}
	return b.String()
}

// List reads the list.
func (s *Service) List(k Kind) (*ListResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	entries, err := lists.Load(k.Path(c))
	if err != nil {
		return nil, err
	}
	r := &ListResult{List: k, File: k.Path(c), Entries: EntriesJSON(entries), where: k.Where(c), entries: entries}
	return r, nil
}

// EntriesJSON is entries in JSON outputs; never null.
func EntriesJSON(entries []lists.Entry) []Entry {
	out := []Entry{}
	for _, e := range entries {
		out = append(out, Entry{e.Prefix.String(), e.Note})
	}
	return out
}

// ImportResult is what Import did.
type ImportResult struct {
	Where, Source             string
	Rows                      int
	Added, Updated, Unchanged int
	Total                     int
	Applied                   *ListsApplied
}

// Text is what the CLI prints on stdout.
func (r *ImportResult) Text() string {
	s := fmt.Sprintf("imported %s from %s into %s: %d added, %d with a new note, %d unchanged; %s now\n",
		Plural(r.Rows, "row", "rows"), r.Source, r.Where, r.Added, r.Updated, r.Unchanged, Plural(r.Total, "entry", "entries"))
	if r.Applied != nil {
		s += r.Applied.Text()
	}
	return s
}

// Warnings are what the CLI prints on stderr.
func (r *ImportResult) Warnings() []string { return r.Applied.warnings() }

// Import adds the rows of a CSV (address,note) read from in, named name
// in messages. It is all or nothing: if any row is bad (or, on the deny
// list, overlaps the allow list), the error lists every bad row with its
// line and the list does not change.
func (s *Service) Import(ctx context.Context, k Kind, in io.Reader, name string) (*ImportResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	var check func(lists.Entry) error
	if k == Deny {
		allow, unlock, err := lockAllow(c)
		if err != nil {
			return nil, err
		}
		defer unlock()
		check = func(e lists.Entry) error {
			if ms := allow.Overlaps(e.Prefix); len(ms) > 0 {
				return allowConflict(e.Prefix, ms)
			}
			return nil
		}
	}
	entries, err := lists.ReadCSV(bufio.NewReaderSize(in, 1<<16), name, check)
	if err != nil {
		return nil, err
	}
	r := &ImportResult{Where: k.Where(c), Source: name, Rows: len(entries)}
	var added []netip.Prefix
	err = lists.Edit(k.Path(c), func(d *lists.Doc) error {
		r.Added, r.Updated, r.Unchanged, added = 0, 0, 0, nil
		for _, e := range entries {
			switch d.Add(e) {
			case lists.Added:
				r.Added++
				added = append(added, e.Prefix)
			case lists.Updated:
				r.Updated++
			default:
				r.Unchanged++
			}
		}
		r.Total = d.Len()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.Added+r.Updated == 0 {
		return r, nil
	}
	if k != Allow {
		added = nil
	}
	r.Applied, err = s.applyLists(ctx, c, added)
	return r, err
}

// ExportResult is what Export did.
type ExportResult struct {
	// CSV is the list as CSV: a header address,note, a row per entry.
	CSV     []byte
	Entries int
	Where   string
	// File is where WriteExport wrote it.
	File string
}

// Text is what the CLI prints after writing a file.
func (r *ExportResult) Text() string {
	return fmt.Sprintf("exported %s from %s to %s\n", Plural(r.Entries, "entry", "entries"), r.Where, r.File)
}

// Export returns the list as CSV. A note a spreadsheet would run as a
// formula gets a leading "'", which Import removes.
func (s *Service) Export(k Kind) (*ExportResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	entries, err := lists.Load(k.Path(c))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := lists.WriteCSV(&b, entries); err != nil {
		return nil, err
	}
	return &ExportResult{CSV: b.Bytes(), Entries: len(entries), Where: k.Where(c)}, nil
}

// ExportFile writes the list as CSV to file, atomically.
func (s *Service) ExportFile(k Kind, file string) (*ExportResult, error) {
	r, err := s.Export(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(file, r.CSV, 0o644); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	r.File = file
	return r, nil
}

// lockAllow reads the allow list under a shared lock, held until unlock,
// so that a deny edit checked against it cannot race an allow edit.
func lockAllow(c *conf.Config) (*lists.Doc, func(), error) {
	if lists.SameFile(c.Lists.Allow, c.Lists.Deny) {
		return nil, nil, fmt.Errorf("%w: %s", lists.ErrSameFile, c.Lists.Allow)
	}
	unlock, err := lists.Lock(c.Lists.Allow, false)
	if err != nil {
		return nil, nil, err
	}
	d, err := lists.ReadDoc(c.Lists.Allow)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return d, unlock, nil
}

// allowConflict explains why p cannot go on the deny list: the allow
// list wins, so the deny entry would not apply where they meet.
func allowConflict(p netip.Prefix, ms []lists.Match) error {
	entry := "entry"
	if len(ms) > 1 {
		entry = "entries"
	}
	return fmt.Errorf("%s %s the allow list %s %s, and the allow list wins over the deny list",
		lists.FormatPrefix(p), relation(p, ms), entry, DescribeMatches(ms))
}

// relation is how p sits against the entries that overlap it: inside
// them all, or overlapping some that are narrower.
func relation(p netip.Prefix, ms []lists.Match) string {
	for _, m := range ms {
		if m.Prefix.Bits() > p.Bits() {
			return "overlaps"
		}
	}
	return "is inside"
}

// Plural writes n things: "1 entry", "2 entries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// DescribeMatches writes entries as `192.0.2.0/24 "office" (FILE:LINE)`.
func DescribeMatches(ms []lists.Match) string {
	var parts []string
	for _, m := range ms {
		s := lists.FormatPrefix(m.Prefix)
		if m.Note != "" {
			s += fmt.Sprintf(" %q", m.Note)
		}
		parts = append(parts, fmt.Sprintf("%s (%s:%d)", s, m.File, m.Line))
	}
	return strings.Join(parts, ", ")
}

// alsoDenied finds deny entries that newly allowed networks overlap.
func alsoDenied(c *conf.Config, ps []netip.Prefix) []Overlap {
	deny, err := lists.ReadDoc(c.Lists.Deny)
	if err != nil {
		return nil // the deny list's own operations report its errors
	}
	var out []Overlap
	for _, p := range ps {
		if ms := deny.Overlaps(p); len(ms) > 0 {
			out = append(out, Overlap{p, ms})
		}
	}
	return out
}
