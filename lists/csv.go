package lists

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// CSVHeader is the first row of an export; an import skips it.
var CSVHeader = []string{"address", "note"}

// BadRowsError is an import refused for its bad rows. It lists every one,
// so the operator fixes the file in one pass.
type BadRowsError struct {
	File string
	Rows []error // each "FILE:LINE: what"
}

func (e *BadRowsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bad row(s), nothing imported:", e.File, len(e.Rows))
	for _, r := range e.Rows {
		b.WriteString("\n")
		b.WriteString(r.Error())
	}
	return b.String()
}

// ReadCSV parses an import file: RFC 4180 rows of address,note (the note
// may be missing). A first row that reads as a header ("address,note",
// "IP,Comment"...) is skipped, as are blank rows and a UTF-8 byte order
// mark. A note's line breaks become spaces (CleanNote), since a list line
// cannot hold them, and a spreadsheet guard added by WriteCSV is undone.
// check, if not nil, vets each good row; its error makes the row bad.
//
// Any bad row makes the whole file an error, a *BadRowsError listing
// every bad row as FILE:LINE: what; no entries are returned then.
// Duplicates are returned as they are; Doc.Add merges them.
func ReadCSV(r io.Reader, name string, check func(Entry) error) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // one or two columns; extra empty ones are tolerated below
	cr.ReuseRecord = true
	var out []Entry
	bad := &BadRowsError{File: name}
	badRow := func(line int, format string, args ...any) {
		bad.Rows = append(bad.Rows, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			// The reader resumes at the next line, so later rows are
			// still checked and reported.
			badRow(pe.StartLine, "%v", pe.Err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		}
		if blankRow(rec) {
			continue
		}
		addr := strings.TrimSpace(rec[0])
		if first {
			first = false
			if _, err := ParsePrefix(addr); err != nil && looksLikeHeader(addr) {
				continue
			}
		}
		if extra := rec[min(2, len(rec)):]; !blankRow(extra) {
			badRow(line, "%d columns, want address,note", len(rec))
			continue
		}
		if addr == "" {
			badRow(line, "no address")
			continue
		}
		p, err := ParsePrefix(addr)
		if err != nil {
			badRow(line, "%v", err)
			continue
		}
		e := Entry{Prefix: p}
		if len(rec) > 1 {
			if e.Note, err = CleanNote(unguard(rec[1])); err != nil {
				badRow(line, "%v", err)
				continue
			}
		}
		if check != nil {
			if err := check(e); err != nil {
				badRow(line, "%v", err)
				continue
			}
		}
		if len(bad.Rows) == 0 {
			out = append(out, e)
		}
	}
	if len(bad.Rows) > 0 {
		return nil, bad
	}
	return out, nil
}

// WriteCSV writes entries as an export: the header address,note, then
// one row per entry, quoted per RFC 4180. Notes a spreadsheet would run
// as a formula are guarded with a leading "'"; ReadCSV removes it, so
// importing an export changes nothing.
func WriteCSV(w io.Writer, entries []Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, e := range entries {
		if err := cw.Write([]string{FormatPrefix(e.Prefix), guard(e.Note)}); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// needsGuard reports whether a spreadsheet would take cell s as a
// formula (OWASP's list: = + - @, tab and CR), or s is a guarded cell
// itself: guarding those too keeps guard and unguard exact inverses, so a
// note that really starts with "'=" survives the round trip.
func needsGuard(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	case '\'':
		return needsGuard(s[1:])
	}
	return false
}

func guard(s string) string {
	if needsGuard(s) {
		return "'" + s
	}
	return s
}

func unguard(s string) string {
	if strings.HasPrefix(s, "'") && needsGuard(s[1:]) {
		return s[1:]
	}
	return s
}

func blankRow(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// looksLikeHeader accepts a first cell made of words ("address", "IP
// Address", "ip/cidr"): a typo'd address has digits or colons and is
// reported as a bad row, not skipped as a header.
func looksLikeHeader(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !strings.ContainsRune(" _-/", r) {
			return false
		}
	}
	return true
}
