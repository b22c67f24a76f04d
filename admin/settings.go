package admin

import (
	"encoding"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// Settings are shown from the config file and saved with conf.SetKeys,
// which rewrites only the keys that changed, keeps the operator's other
// lines and comments, validates the result with the code of `sipprot
// config check`, and writes atomically or not at all.

// keyDoc is one key of the embedded defaults: its comment and value.
type keyDoc struct {
	Help, Default string
}

// defaultsDoc maps "section.key" to the comment above it in
// conf.DefaultsTOML and its default value, so the page explains each key
// in the words `sipprot config defaults` uses.
var defaultsDoc = parseDefaults(string(conf.DefaultsTOML()))

func parseDefaults(text string) map[string]keyDoc {
	out := map[string]keyDoc{}
	var section string
	var help []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case line == "":
			help = nil
		case strings.HasPrefix(line, "#"):
			help = append(help, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case strings.HasPrefix(line, "["):
			section, help = strings.Trim(line, "[] "), nil
		default:
			key, val, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			val = strings.TrimSpace(val)
			// A multi-line array runs to its closing bracket.
			for strings.HasPrefix(val, "[") && !strings.HasSuffix(val, "]") && i+1 < len(lines) {
				i++
				val += " " + strings.TrimSpace(lines[i])
			}
			val = strings.ReplaceAll(strings.ReplaceAll(val, "[ ", "["), ", ]", "]")
			out[section+"."+strings.TrimSpace(key)] = keyDoc{Help: strings.Join(help, " "), Default: val}
			help = nil
		}
	}
	return out
}

// Input kinds.
const (
	kindBool     = "bool"
	kindInt      = "int"
	kindText     = "text"
	kindDuration = "duration"
	kindLines    = "lines"
	kindSelect   = "select"
)

// choices are the keys that take one of a few words.
var choices = map[string][]string{
	"queue.mode": {conf.ModeLocal, conf.ModeForward},
	"smtp.tls":   {conf.TLSStartTLS, conf.TLSImplicit, conf.TLSNone},
	"log.format": {"text", "json"},
	"log.level":  {"debug", "info", "warn", "error"},
}

// field is one key as a form input.
type field struct {
	Name    string // "sip.block_time", also the input's name
	Section string
	Key     string
	Kind    string
	Help    string
	Default string
	Value   string // the text in the input
	Checked bool   // kindBool
	Options []string
	Error   string
	Rows    int // kindLines
}

type sectionView struct {
	Name   string
	Fields []*field
}

type settingsData struct {
	File     string
	Action   string
	Sections []sectionView
	Errors   []string // problems not tied to one field
}

// settingsPageData is the General settings page; the form template
// finds its data in .Settings on every page that has one.
type settingsPageData struct {
	Settings settingsData
}

// keyFilter picks the keys a form shows.
type keyFilter func(section, key string) bool

// allKeys is the General settings page: every key.
func allKeys(string, string) bool { return true }

// notifyKeys is the Notifications page's form: [notify] and [smtp], but
// not the recipients, which have their own add and remove.
func notifyKeys(section, key string) bool {
	return section == "smtp" || section == "notify" && key != "recipients"
}

var durationType = reflect.TypeFor[conf.Duration]()

// fields lists the keys of c that pick chooses, in the config's order,
// with their current values.
func fields(c *conf.Config, pick keyFilter) []sectionView {
	var out []sectionView
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		section := tomlName(rt.Field(i))
		if section == "" {
			continue
		}
		sv := sectionView{Name: section}
		srv := rv.Field(i)
		for j := range srv.NumField() {
			key := tomlName(srv.Type().Field(j))
			if key == "" || !pick(section, key) {
				continue
			}
			f := &field{Name: section + "." + key, Section: section, Key: key}
			doc := defaultsDoc[f.Name]
			f.Help, f.Default = doc.Help, doc.Default
			v := srv.Field(j)
			switch {
			case choices[f.Name] != nil:
				f.Kind, f.Options = kindSelect, choices[f.Name]
			case v.Type() == durationType:
				f.Kind = kindDuration
			case v.Kind() == reflect.Bool:
				f.Kind = kindBool
			case v.Kind() == reflect.Int:
				f.Kind = kindInt
			case v.Kind() == reflect.Slice:
				f.Kind = kindLines
			default:
				f.Kind = kindText
			}
			f.Value = valueText(v)
			f.Checked = f.Kind == kindBool && v.Bool()
			if f.Kind == kindLines {
				f.Rows = min(max(strings.Count(f.Value, "\n")+2, 3), 12)
			}
			sv.Fields = append(sv.Fields, f)
		}
		if len(sv.Fields) > 0 {
			out = append(out, sv)
		}
	}
	return out
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// valueText is a value as typed in its input: a list one per line.
func valueText(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return ""
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = valueText(v.Index(i))
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

func (s *server) settingsPage(w http.ResponseWriter, r *http.Request, se *session) {
	d := s.settingsForm(allKeys, "/settings")
	s.render(w, http.StatusOK, "settings", s.page(se, "General settings", "settings", settingsPageData{d}))
}

// settingsForm is the form of the keys pick chooses, filled from the
// config file.
func (s *server) settingsForm(pick keyFilter, action string) settingsData {
	d := settingsData{File: s.opts.ConfigPath, Action: action}
	c, err := s.loadConfigFile()
	if err != nil {
		// Show the defaults so the page still explains every key, and the
		// problem that keeps the file from loading.
		d.Errors = append(d.Errors, err.Error())
		c = conf.Defaults()
	}
	d.Sections = fields(c, pick)
	return d
}
