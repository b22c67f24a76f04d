package conf

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"github.com/sipprot/sipprot/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"
)

// Edits rewrite the operator's config file in place, one key at a time,
// keeping every other line and comment as the operator wrote it: the CLI
// (notify add/remove) and the web page change settings through SetKeys.

// Edit is one key to set by SetKeys.
type Edit struct {
	Section string // "notify"
	Key     string // "recipients"
	// Value is of the key's Config field type (conf.Duration, []string…),
	// or, for the config's text types (Duration, TimeOfDay, Country…), a
	// string (or []string) in the file's spelling; a time.Duration is
	// taken for a Duration.
	Value any
}

// ErrInlineTable is returned when the key is set inside an inline table
// (notify = { recipients = [...] }), which SetKeys does not rewrite.
var ErrInlineTable = errors.New("set inside an inline table; edit that line by hand")

// newConfigMode is the mode of a config file that SetKeys creates: the
// file may name secrets' files and mail addresses, so not world-readable.
const newConfigMode fs.FileMode = 0o640

// SetKey sets one key; see SetKeys.
func SetKey(path, section, key string, value any) error {
	return SetKeys(path, Edit{Section: section, Key: key, Value: value})
}

// SetKeys rewrites the config file at path with each key set to its value.
// An existing line (or the lines of a multi-line array) is replaced in
// place, keeping a trailing comment; a key not in the file is added at the
// end of its [section], and a section not in the file is appended. The
// result must load (Parse) with the new values, otherwise nothing is
// written and the error names the key. The file is replaced atomically,
// keeping its mode and owner, under an exclusive lock on PATH.lock so
// concurrent edits do not lose each other's change. A missing file is
// created (mode 0640) holding just the edited sections and keys.
func SetKeys(path string, edits ...Edit) error {
	return Update(path, func(*Config) ([]Edit, error) { return edits, nil })
}

// Update is SetKeys with the edits made by fn from the config as the file
// holds it (the defaults for a missing file), read under the same lock:
// a read-modify-write, such as adding a recipient to the list, cannot
// lose a concurrent one. An error from fn is returned as is and nothing
// is written; so is a file that does not load.
func Update(path string, fn func(cur *Config) ([]Edit, error)) error {
	target := resolveLink(path)
	unlock, err := lockFile(target + ".lock")
	if err != nil {
		return fmt.Errorf("edit %s: %w", path, err)
	}
	defer unlock()

	data, err := os.ReadFile(target)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("edit %s: %w", path, err)
	}
	cur := Defaults()
	if !missing {
		if cur, err = Parse(path, data); err != nil {
			return fmt.Errorf("edit %s: fix the file first: %w", path, err)
		}
	}
	edits, err := fn(cur)
	if err != nil || len(edits) == 0 {
		return err
	}

	names := make([]string, len(edits))
	vals := make([]reflect.Value, len(edits))
	text := string(data)
	for i, e := range edits {
		names[i] = keyName([]string{e.Section, e.Key})
		v, line, err := encodeEdit(e)
		if err == nil {
			text, err = setLine(text, e.Section, e.Key, line)
		}
		if err != nil {
			return fmt.Errorf("set %s: %w", names[i], err)
		}
		vals[i] = v
	}
	what := strings.Join(names, ", ")

	// Validate what would be written, and check that each key now reads
	// back as set: a later duplicate or dotted key must not shadow it.
	cfg, err := Parse(path, []byte(text))
	if err != nil {
		return fmt.Errorf("set %s: nothing written: %w", what, err)
	}
	for i, e := range edits {
		got := fieldOf(cfg, e.Section, e.Key)
		if !sameValue(got, vals[i]) {
			return fmt.Errorf("set %s: nothing written: the file still reads %v", names[i], got.Interface())
		}
	}

	perm, uid, gid := newConfigMode, -1, -1
	if fi, err := os.Stat(target); err == nil {
		perm = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	if err := atomicfile.WriteOwned(target, []byte(text), perm, uid, gid); err != nil {
		return fmt.Errorf("set %s: %w", what, err)
	}
	return nil
}

// encodeEdit checks the edit against the schema and returns the value as
// its field type and the "key = value" line.
func encodeEdit(e Edit) (reflect.Value, string, error) {
	sec, ok := findSection(e.Section)
	if !ok {
		return reflect.Value{}, "", fmt.Errorf("unknown section%s", suggest(e.Section, sectionNames()))
	}
	f, ok := sec.find(e.Key)
	if !ok {
		return reflect.Value{}, "", fmt.Errorf("unknown key%s", suggest(e.Key, sec.names()))
	}
	ft := reflect.TypeFor[Config]().Field(sec.index).Type.Field(f.index).Type
	v, err := toFieldType(ft, e.Value)
	if err != nil {
		return reflect.Value{}, "", err
	}
	var b bytes.Buffer
	b.WriteString(e.Key + " = ")
	if err := writeValue(&b, v); err != nil {
		return reflect.Value{}, "", err
	}
	return v, b.String(), nil
}

// sameValue is reflect.DeepEqual, except that a nil and an empty slice
// are the same list.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// toFieldType converts a caller's value to the field type t.
func toFieldType(t reflect.Type, value any) (reflect.Value, error) {
	if value == nil {
		return reflect.Value{}, errors.New("no value")
	}
	v := reflect.ValueOf(value)
	switch {
	case v.Type() == t:
		return v, nil
	case t == reflect.TypeFor[Duration]() && v.Type() == reflect.TypeFor[time.Duration]():
		return reflect.ValueOf(Duration{value.(time.Duration)}), nil
	case isText(t) && v.Kind() == reflect.String:
		return parseText(t, v.String())
	case t.Kind() == reflect.Slice && v.Kind() == reflect.Slice && (isText(t.Elem()) || t.Elem().Kind() == reflect.String) && v.Type().Elem().Kind() == reflect.String:
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			if !isText(t.Elem()) {
				out.Index(i).SetString(v.Index(i).String())
				continue
			}
			ev, err := parseText(t.Elem(), v.Index(i).String())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("element %d: %w", i+1, err)
			}
			out.Index(i).Set(ev)
		}
		return out, nil
	case !isText(t) && t.Kind() != reflect.Slice && v.CanConvert(t) && v.Kind() == t.Kind():
		return v.Convert(t), nil
	case t.Kind() == reflect.Int && v.CanInt():
		return reflect.ValueOf(int(v.Int())).Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("want a %s value, got %T", t, value)
}

func parseText(t reflect.Type, s string) (reflect.Value, error) {
	out := reflect.New(t)
	if err := out.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		return reflect.Value{}, err
	}
	return out.Elem(), nil
}

// fieldOf returns the Config field of section.key.
func fieldOf(c *Config, section, key string) reflect.Value {
	sec, _ := findSection(section)
	f, _ := sec.find(key)
	return reflect.ValueOf(c).Elem().Field(sec.index).Field(f.index)
}

// statement is one line (or run of lines) of a TOML document: a table
// header or a key = value.
type statement struct {
	header     bool
	table, key []string
	valStart   int // key = value only: the value's bytes
	valEnd     int
	lineEnd    int // the newline (or end of text) ending the statement
}

// statements lists the document's headers and key/values with their byte
// offsets, with the same scanner that places errors on lines.
func statements(text string) []statement {
	sc := &lineScanner{s: text, line: 1, ix: lineIndex{}, onLine: map[int][]string{}}
	var out []statement
	sc.walk(func(table []string) {
		sc.skipLine()
		out = append(out, statement{header: true, table: table, lineEnd: sc.i})
	}, func(table, k []string) {
		sc.skipBlank(false)
		st := statement{table: table, key: k, valStart: sc.i}
		sc.value(nil)
		st.valEnd = sc.i
		for st.valEnd > st.valStart && strings.ContainsRune(" \t\r", rune(text[st.valEnd-1])) {
			st.valEnd--
		}
		sc.skipLine()
		st.lineEnd = sc.i
		out = append(out, st)
	})
	return out
}

// setLine returns text with section.key set by line ("key = value").
func setLine(text, section, key, line string) (string, error) {
	bom := ""
	if rest, ok := strings.CutPrefix(text, "\ufeff"); ok {
		bom, text = "\ufeff", rest
	}
	nl := "\n"
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	}
	value := strings.TrimPrefix(line, key+" = ")
	want := []string{section, key}
	sectionEnd := -1 // where a new key of the section goes
	for _, st := range statements(text) {
		full := append(append([]string{}, st.table...), st.key...)
		if st.header {
			if equal(st.table, []string{section}) {
				sectionEnd = st.lineEnd
			}
			continue
		}
		switch {
		case equal(full, want):
			// Keep the key as spelled (perhaps dotted) and any comment after
			// the value; replace only the value.
			return bom + text[:st.valStart] + value + text[st.valEnd:], nil
		case len(full) < len(want) && equal(full, want[:len(full)]):
			return "", ErrInlineTable
		}
		if equal(st.table, []string{section}) {
			sectionEnd = st.lineEnd
		}
	}
	if sectionEnd >= 0 {
		if sectionEnd > 0 && text[sectionEnd-1] == '\r' {
			sectionEnd-- // insert before the CR of a CRLF
		}
		return bom + text[:sectionEnd] + nl + line + text[sectionEnd:], nil
	}
	var b strings.Builder
	b.WriteString(bom + text)
	if text != "" {
		if !strings.HasSuffix(text, "\n") {
			b.WriteString(nl)
		}
		b.WriteString(nl)
	}
	b.WriteString("[" + section + "]" + nl + line + nl)
	return b.String(), nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// resolveLink follows a symlinked config to the file it names, so an edit
// replaces that file rather than the link.
func resolveLink(path string) string {
	if t, err := filepath.EvalSymlinks(path); err == nil {
		return t
	}
	return path
}

// lockFile takes an exclusive flock on path (created if needed). The lock
// is a separate file because an edit replaces the config's inode.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
