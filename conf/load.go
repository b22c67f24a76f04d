package conf

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a config file. Load joins all of them, in file
// order, with errors.Join; errors.As finds the first.
type Error struct {
	File string // the config file, or "defaults"
	Line int    // 1-based; 0 when the file does not mention the key
	Key  string // "section.key"; empty for a syntax error with no key
	Msg  string // what is wrong
}

// Error formats the problem as FILE:LINE: section.key: what is wrong.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads the config at path on top of the embedded defaults and
// validates it. A missing file is an error if mustExist, otherwise it means
// the defaults. On any problem Load returns nil and every problem it found,
// so a bad config never half-applies.
func Load(path string, mustExist bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !mustExist {
			return Defaults(), nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a config already in memory; name is used in errors and
// as the Source.
func Parse(name string, data []byte) (*Config, error) {
	return decode(name, data, Defaults())
}

// decode overlays the TOML in data on base, then validates the result.
func decode(name string, data []byte, base *Config) (*Config, error) {
	// The parser skips a UTF-8 byte order mark and counts offsets after it;
	// so must the line scanner.
	text := strings.TrimPrefix(string(data), "\ufeff")
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, syntaxError(name, text, err)
	}
	d := &decoder{file: name, lines: indexLines(text)}
	d.overlay(raw, base)
	d.validate(base)
	if err := d.err(); err != nil {
		return nil, err
	}
	base.source = name
	return base, nil
}

// syntaxError turns the TOML parser's error into an *Error. The parser's
// LastKey is often the table or an earlier key, so the key is the one the
// line sets, when the line sets exactly one (or LastKey is among them).
func syntaxError(name, text string, err error) error {
	// The message may quote the offending text, newlines included; keep
	// one problem per line.
	oneLine := strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: name, Msg: "syntax error: " + oneLine(err.Error())}
	}
	e := &Error{File: name, Line: pe.Position.Line, Msg: "syntax error: " + oneLine(pe.Message)}
	// The parser puts an error found at a newline on the next line; the
	// user's mistake is on the line that newline ends.
	if st := pe.Position.Start; st >= 0 && st < len(text) && text[st] == '\n' {
		e.Line = 1 + strings.Count(text[:st], "\n")
	}
	// a.b = x also creates a on that line; the key is the deepest one.
	var onLine []string
	all := scanLines(text).onLine[e.Line]
	for _, k := range all {
		if !slices.ContainsFunc(all, func(o string) bool { return strings.HasPrefix(o, k+".") }) && !slices.Contains(onLine, k) {
			onLine = append(onLine, k)
		}
	}
	switch {
	case slices.Contains(onLine, pe.LastKey):
		e.Key = pe.LastKey
	case len(onLine) == 1:
		e.Key = onLine[0]
	}
	return e
}

// decoder collects every problem in one file, with its line.
type decoder struct {
	file  string
	lines lineIndex
	errs  []*Error
}

// at reports a problem with key.
func (d *decoder) at(key []string, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.lines.line(key...), Key: keyName(key), Msg: fmt.Sprintf(format, args...)})
}

// atElem reports a problem with element i of the array at key.
func (d *decoder) atElem(i int, key []string, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.lines.elem(i, key...), Key: keyName(key), Msg: fmt.Sprintf(format, args...)})
}

// err returns all problems in file order; problems without a line go last.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	// Line 0 (not in the file) sorts after every real line.
	pos := func(e *Error) int {
		if e.Line == 0 {
			return math.MaxInt
		}
		return e.Line
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return cmp.Compare(pos(a), pos(b)) })
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// schema lists the sections and keys of Config from its toml tags, so
// unknown names are caught by exact, case-sensitive match (the TOML library
// would silently accept "Ports" for "ports").
type section struct {
	name  string
	index int
	keys  []field
}

type field struct {
	name  string
	index int
}

var schema = buildSchema(reflect.TypeFor[Config]())

func buildSchema(t reflect.Type) []section {
	var secs []section
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		s := section{name: f.Tag.Get("toml"), index: i}
		for j := range f.Type.NumField() {
			s.keys = append(s.keys, field{name: f.Type.Field(j).Tag.Get("toml"), index: j})
		}
		secs = append(secs, s)
	}
	return secs
}

func findSection(name string) (section, bool) {
	for _, s := range schema {
		if s.name == name {
			return s, true
		}
	}
	return section{}, false
}

func (s section) find(name string) (field, bool) {
	for _, f := range s.keys {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// overlay stores every value of raw into cfg, replacing (not appending to)
// arrays, and records unknown names and wrong types. Names are visited in
// sorted order so errors on one line come out the same way every time.
func (d *decoder) overlay(raw map[string]any, cfg *Config) {
	rv := reflect.ValueOf(cfg).Elem()
	for _, name := range sortedKeys(raw) {
		val := raw[name]
		sec, ok := findSection(name)
		if !ok {
			what := "unknown key"
			switch val.(type) {
			case map[string]any, []map[string]any:
				what = "unknown section"
			}
			d.at([]string{name}, "%s%s", what, suggest(name, sectionNames()))
			continue
		}
		tbl, ok := val.(map[string]any)
		if !ok {
			d.at([]string{name}, "must be a table [%s], got %s", name, describe(val))
			continue
		}
		srv := rv.Field(sec.index)
		for _, key := range sortedKeys(tbl) {
			f, ok := sec.find(key)
			if !ok {
				d.at([]string{name, key}, "unknown key%s", suggest(key, sec.names()))
				continue
			}
			d.set(srv.Field(f.index), tbl[key], []string{name, key})
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sectionNames() []string {
	names := make([]string, len(schema))
	for i, s := range schema {
		names[i] = s.name
	}
	return names
}

func (s section) names() []string {
	names := make([]string, len(s.keys))
	for i, f := range s.keys {
		names[i] = f.name
	}
	return names
}

// suggest offers the known name a typo most likely meant: same letters up to
// case and '-' versus '_'.
func suggest(name string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	for _, k := range known {
		if norm(k) == norm(name) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	return ""
}

// set stores the TOML value v into dst. An array is stored only if all its
// elements convert, so dst never holds a half-decoded value.
func (d *decoder) set(dst reflect.Value, v any, key []string) {
	if dst.Kind() != reflect.Slice || isText(dst.Type()) {
		out, err := convert(dst.Type(), v)
		if err != nil {
			d.at(key, "%v", err)
			return
		}
		dst.Set(out)
		return
	}
	arr, ok := v.([]any)
	if !ok {
		d.at(key, "must be an array, got %s", describe(v))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
	failed := false
	for i, e := range arr {
		ev, err := convert(dst.Type().Elem(), e)
		if err != nil {
			d.atElem(i, key, "element %d: %v", i+1, err)
			failed = true
			continue
		}
		out.Index(i).Set(ev)
	}
	if !failed {
		dst.Set(out)
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// convert turns one TOML scalar into a value of type t. Text types also
// take integers, as the TOML library does, so ports = [5060] works.
func convert(t reflect.Type, v any) (reflect.Value, error) {
	out := reflect.New(t)
	if isText(t) {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		default:
			return reflect.Value{}, fmt.Errorf("must be a string, got %s", describe(v))
		}
		if err := out.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return reflect.Value{}, err
		}
		return out.Elem(), nil
	}
	var ok bool
	switch t.Kind() {
	case reflect.String:
		var s string
		if s, ok = v.(string); ok {
			out.Elem().SetString(s)
		}
	case reflect.Bool:
		var b bool
		if b, ok = v.(bool); ok {
			out.Elem().SetBool(b)
		}
	case reflect.Int:
		var n int64
		if n, ok = v.(int64); ok {
			out.Elem().SetInt(n)
		}
	default:
		// Only reachable if a field of an unsupported type is added to Config.
		panic("conf: unsupported field type " + t.String())
	}
	if !ok {
		return reflect.Value{}, fmt.Errorf("must be %s, got %s", kindName(t.Kind()), describe(v))
	}
	return out.Elem(), nil
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	}
	return k.String()
}

// typeName is the TOML name of a decoded value's type.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	}
	return fmt.Sprintf("%T", v)
}

// describe is typeName plus the value itself when it is short and scalar.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) <= 40 {
			return fmt.Sprintf("string %q", v)
		}
	case int64, float64, bool:
		return fmt.Sprintf("%s %v", typeName(v), v)
	}
	return typeName(v)
}

// keyName spells a key path as in TOML and in error messages: sip.ports.
func keyName(key []string) string { return toml.Key(key).String() }
