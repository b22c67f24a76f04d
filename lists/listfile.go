package lists

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/gaissmai/bart"
	"github.com/sipprot/sipprot/atomicfile"
)

// MaxNoteLen bounds a note, in bytes, so a list line always fits the
// line reader of ReadList (1 MiB) with room to spare.
const MaxNoteLen = 4096

// ErrSameFile is returned when the allow and deny lists are one file: a
// deny edit locks the allow list too, and one file cannot be both.
var ErrSameFile = errors.New("the allow and deny lists are the same file")

// AddResult says what Doc.Add did.
type AddResult int

// What an add can do to a list.
const (
	Unchanged AddResult = iota // already there with that note
	Added                      // a new line at the end
	Updated                    // the network was there; its note changed
)

// Match is a list entry found for an address or network, and where it is.
type Match struct {
	Entry
	File string
	Line int // 1-based; 0 for a line not yet written
}

// Doc is a list file as the operator wrote it: every line, comments
// and blank ones included, so an edit rewrites only the lines it touches.
// Build one with ReadDoc, or change one inside Edit.
type Doc struct {
	path    string
	lines   []docLine
	index   map[netip.Prefix][]int // prefix -> its lines (several if hand-edited twice)
	count   int                    // live entry lines
	changed bool
	set     *bart.Lite // built on demand for Overlaps/Holding; nil after a change
}

type docLine struct {
	text    string // as read (with any '\r'), or as formatted after an edit
	entry   Entry
	isEntry bool
	deleted bool
	num     int // line number as read; 0 for an added line
}

// ReadDoc reads the list file at path; a missing file is an empty
// list. A bad line is an error naming FILE:LINE, as with LoadList: an
// edit never starts from a file it cannot read back.
func ReadDoc(path string) (*Doc, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read list: %w", err)
	}
	return parseListDoc(path, data)
}

func parseListDoc(path string, data []byte) (*Doc, error) {
	// ReadList stays the one authority on what a line means; the lines
	// here are only zipped with the entries it returns, in order.
	entries, err := Read(bytes.NewReader(data), path)
	if err != nil {
		return nil, err
	}
	d := &Doc{path: path, index: make(map[netip.Prefix][]int, len(entries))}
	if len(data) == 0 {
		return d, nil
	}
	text := strings.TrimSuffix(string(data), "\n") // bufio.ScanLines yields no empty last line
	d.lines = make([]docLine, 0, len(entries)+8)
	next := 0
	for n, s := range strings.Split(text, "\n") {
		l := docLine{text: s, num: n + 1}
		t := strings.TrimSpace(strings.TrimSuffix(s, "\r"))
		if t != "" && !strings.HasPrefix(t, "#") {
			if next >= len(entries) {
				return nil, fmt.Errorf("read list: %s:%d: line not understood", path, n+1)
			}
			l.entry, l.isEntry = entries[next], true
			next++
			d.index[l.entry.Prefix] = append(d.index[l.entry.Prefix], len(d.lines))
			d.count++
		}
		d.lines = append(d.lines, l)
	}
	if next != len(entries) {
		return nil, fmt.Errorf("read list: %s: %d entries but %d entry lines", path, len(entries), next)
	}
	return d, nil
}

// Path is the file the doc was read from.
func (d *Doc) Path() string { return d.path }

// Len is the number of entries.
func (d *Doc) Len() int { return d.count }

// Changed reports whether an edit changed the doc.
func (d *Doc) Changed() bool { return d.changed }

// Entries returns the entries in file order.
func (d *Doc) Entries() []Entry {
	out := make([]Entry, 0, d.count)
	for _, l := range d.lines {
		if l.isEntry && !l.deleted {
			out = append(out, l.entry)
		}
	}
	return out
}

// Find returns the entry for exactly p, if the list has one.
func (d *Doc) Find(p netip.Prefix) (Match, bool) {
	idx := d.index[p]
	if len(idx) == 0 {
		return Match{}, false
	}
	return d.match(idx[0]), true
}

func (d *Doc) match(i int) Match {
	return Match{Entry: d.lines[i].entry, File: d.path, Line: d.lines[i].num}
}

// Add puts e on the list. A network already there keeps its line and
// takes e's note, except that an empty note never erases one: importing a
// CSV without notes loses nothing. A network written on several lines
// (by hand) is merged into the first. The note must be clean (CleanNote).
func (d *Doc) Add(e Entry) AddResult {
	idx := d.index[e.Prefix]
	if len(idx) == 0 {
		d.lines = append(d.lines, docLine{text: formatLine(e), entry: e, isEntry: true})
		d.index[e.Prefix] = []int{len(d.lines) - 1}
		d.count++
		d.touch()
		return Added
	}
	res := Unchanged
	first := &d.lines[idx[0]]
	if e.Note != "" && e.Note != first.entry.Note {
		first.entry.Note = e.Note
		first.text = formatLine(first.entry)
		res = Updated
	}
	for _, i := range idx[1:] {
		d.lines[i].deleted = true
		d.count--
		res = max(res, Updated)
	}
	if len(idx) > 1 {
		d.index[e.Prefix] = idx[:1]
	}
	if res != Unchanged {
		d.touch()
	}
	return res
}

// Remove deletes the lines of network p and reports whether there were
// any. Comments around them stay.
func (d *Doc) Remove(p netip.Prefix) bool {
	idx := d.index[p]
	if len(idx) == 0 {
		return false
	}
	for _, i := range idx {
		d.lines[i].deleted = true
		d.count--
	}
	delete(d.index, p)
	d.touch()
	return true
}

// RemoveAll deletes every entry line, keeps the comments and blank lines,
// and returns the number of entries removed.
func (d *Doc) RemoveAll() int {
	n := d.count
	for i := range d.lines {
		if d.lines[i].isEntry {
			d.lines[i].deleted = true
		}
	}
	clear(d.index)
	d.count = 0
	if n > 0 {
		d.touch()
	}
	return n
}

func (d *Doc) touch() {
	d.changed = true
	d.set = nil
}

// Holding returns the entries that hold address a (the address itself or
// a network around it), most specific first.
func (d *Doc) Holding(a netip.Addr) []Match {
	a = a.Unmap()
	var out []Match
	for p := range d.prefixSet().Supernets(netip.PrefixFrom(a, a.BitLen())) {
		for _, i := range d.index[p] {
			out = append(out, d.match(i))
		}
	}
	return out
}

// Overlaps returns the entries that share an address with network p: the
// ones holding it and the ones inside it, in file order.
func (d *Doc) Overlaps(p netip.Prefix) []Match {
	s := d.prefixSet()
	var idx []int
	for q := range s.Supernets(p) {
		idx = append(idx, d.index[q]...)
	}
	for q := range s.Subnets(p) {
		if q != p { // Supernets already gave p itself
			idx = append(idx, d.index[q]...)
		}
	}
	slices.Sort(idx)
	out := make([]Match, 0, len(idx))
	for _, i := range idx {
		out = append(out, d.match(i))
	}
	return out
}

func (d *Doc) prefixSet() *bart.Lite {
	if d.set == nil {
		d.set = new(bart.Lite)
		for p, idx := range d.index {
			if len(idx) > 0 {
				d.set.Insert(p)
			}
		}
	}
	return d.set
}

// Bytes is the file as it would be written: untouched lines as they were,
// in their order, and a final newline.
func (d *Doc) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(len(d.lines) * 32)
	for _, l := range d.lines {
		if !l.deleted {
			b.WriteString(l.text)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// formatLine writes an entry as `ADDR NOTE`. ReadList drops one leading
// '#' from a note (so `ADDR # note` reads as "note"); a note that itself
// starts with '#' is written after "# " to survive that.
func formatLine(e Entry) string {
	a := FormatPrefix(e.Prefix)
	switch {
	case e.Note == "":
		return a
	case strings.HasPrefix(e.Note, "#"):
		return a + " # " + e.Note
	}
	return a + " " + e.Note
}

// FormatPrefix writes a single host as its bare address and anything
// wider as a CIDR, the way operators write their lists.
func FormatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// CleanNote makes s fit on a list line: each run of line breaks (CR, LF)
// becomes one space, since a list line cannot hold them, and the ends are
// trimmed. Nothing else changes, so every note ReadList returns is clean
// already and survives an export and import as it is. A note longer than
// MaxNoteLen is an error.
func CleanNote(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.FieldsFunc(s, isLineBreak), " ")
	}
	s = strings.TrimSpace(s)
	if len(s) > MaxNoteLen {
		return "", fmt.Errorf("note too long (%d bytes, at most %d)", len(s), MaxNoteLen)
	}
	return s, nil
}

func isLineBreak(r rune) bool { return r == '\r' || r == '\n' }

// Edit changes the list file at path: under an exclusive lock on
// path+".lock", it reads the file, lets edit change it, and if anything
// changed writes it back atomically (temp file, fsync, rename), so the
// daemon and a crash only ever see the old or the new list, and two
// concurrent edits never lose one another. If edit returns an error,
// nothing is written and that error is returned as is. A symlinked list
// is edited at its target.
func Edit(path string, edit func(*Doc) error) error {
	target := resolve(path)
	unlock, err := Lock(target, true)
	if err != nil {
		return err
	}
	defer unlock()
	removeStaleTemps(target)
	d, err := ReadDoc(target)
	if err != nil {
		return err
	}
	d.path = path // messages name the file as the config does
	if err := edit(d); err != nil {
		return err
	}
	if !d.changed {
		return nil
	}
	perm := fs.FileMode(0o644) // a list is no secret; keep what the operator chose
	if fi, err := os.Stat(target); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := atomicfile.Write(target, d.Bytes(), perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// removeStaleTemps deletes the temporary files that an edit killed
// mid-write left next to the list. Called under the list's lock, so no
// other edit is writing one; only atomicfile.Write's names (".NAME." and
// digits) match, never an editor's swap file.
func removeStaleTemps(path string) {
	prefix := "." + filepath.Base(path) + "."
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if ok && rest != "" && strings.Trim(rest, "0123456789") == "" && e.Type().IsRegular() {
			os.Remove(filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
}

// Lock takes a lock on path+".lock" (created if needed): exclusive
// to edit the list, shared to read it knowing it will not change until
// unlock. The lock is a separate file because edits replace the list's
// inode. Locks are per open file, so goroutines exclude each other too.
func Lock(path string, exclusive bool) (unlock func(), err error) {
	lockPath := resolve(path) + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o750); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the lock
}

// SameFile reports whether two list paths name one file (after symlinks).
func SameFile(a, b string) bool {
	return filepath.Clean(resolve(a)) == filepath.Clean(resolve(b))
}

// resolve follows symlinks so an edit replaces the target, not the link;
// a path that does not resolve (missing file) is used as given.
func resolve(path string) string {
	if t, err := filepath.EvalSymlinks(path); err == nil {
		return t
	}
	return path
}
