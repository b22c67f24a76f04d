package admin

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// edits reads the submitted form into the fields and returns an edit for
// each key whose value changed. A number that is not one is an error on
// its field and no edit.
func edits(r *http.Request, secs []sectionView) ([]conf.Edit, bool) {
	var out []conf.Edit
	ok := true
	for _, sv := range secs {
		for _, f := range sv.Fields {
			e := conf.Edit{Section: f.Section, Key: f.Key}
			old := f.Value
			switch f.Kind {
			case kindBool:
				// An unticked box sends nothing: absent is false.
				checked := r.PostFormValue(f.Name) != ""
				if checked == f.Checked {
					continue
				}
				f.Checked, e.Value = checked, checked
				out = append(out, e)
				continue
			case kindLines:
				vs := []string{}
				for _, l := range strings.Split(r.PostFormValue(f.Name), "\n") {
					if l = strings.TrimSpace(l); l != "" {
						vs = append(vs, l)
					}
				}
				f.Value, e.Value = strings.Join(vs, "\n"), vs
			case kindInt:
				f.Value = strings.TrimSpace(r.PostFormValue(f.Name))
				n, err := strconv.Atoi(f.Value)
				if err != nil {
					f.Error, ok = strconv.Quote(f.Value)+" is not a whole number", false
					continue
				}
				e.Value = n
			default:
				f.Value = strings.TrimSpace(r.PostFormValue(f.Name))
				e.Value = f.Value
			}
			if f.Value != old {
				out = append(out, e)
			}
		}
	}
	return out, ok
}

// setKeyRE finds the key in SetKeys' errors that are not *conf.Error:
// "set sip.block_time: …".
var setKeyRE = regexp.MustCompile(`^set ([a-z_]+\.[a-z_]+): `)

// placeErrors puts each problem of a failed save beside its field, and
// returns those that belong to no field on the page.
func placeErrors(err error, secs []sectionView) []string {
	byName := map[string]*field{}
	for _, sv := range secs {
		for _, f := range sv.Fields {
			byName[f.Name] = f
		}
	}
	var rest []string
	add := func(key, msg string) {
		if f := byName[key]; f != nil {
			f.Error = strings.TrimSpace(f.Error + "\n" + msg)
			return
		}
		rest = append(rest, msg)
	}
	var ces []*conf.Error
	collectConfErrors(err, &ces)
	if len(ces) == 0 {
		msg := err.Error()
		if m := setKeyRE.FindStringSubmatch(msg); m != nil {
			add(m[1], msg)
		} else {
			rest = append(rest, msg)
		}
		return rest
	}
	for _, ce := range ces {
		add(ce.Key, ce.Error())
	}
	return rest
}

// collectConfErrors finds every *conf.Error in err's tree (Parse joins
// one per problem).
func collectConfErrors(err error, out *[]*conf.Error) {
	if ce, ok := err.(*conf.Error); ok {
		*out = append(*out, ce)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectConfErrors(e, out)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			collectConfErrors(e, out)
		}
	}
}

func (s *server) saveSettings(w http.ResponseWriter, r *http.Request, se *session) {
	s.save(w, r, se, allKeys, "/settings", func(d settingsData) {
		s.render(w, http.StatusUnprocessableEntity, "settings", s.page(se, "General settings", "settings", settingsPageData{d}))
	})
}

// save writes the changed keys of a settings form and asks the daemon to
// apply them. A refused value is shown beside its field, with the values
// as typed, and nothing is written.
func (s *server) save(w http.ResponseWriter, r *http.Request, se *session, pick keyFilter, back string, refused func(settingsData)) {
	d := s.settingsForm(pick, back)
	if len(d.Errors) > 0 {
		refused(d)
		return
	}
	es, ok := edits(r, d.Sections)
	if !ok {
		d.Errors = append(d.Errors, "Nothing was saved: correct the values marked below.")
		refused(d)
		return
	}
	if len(es) == 0 {
		s.sessions.setFlash(se, &flash{OK: true, Text: "Nothing changed."})
		redirect(w, r, back)
		return
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Section + "." + e.Key
	}
	ctx, cancel := context.WithTimeout(r.Context(), cliTimeout)
	defer cancel()
	a, err := s.opts.Service.SetKeys(ctx, es...)
	if err != nil {
		s.opts.Log.Warn("admin page settings refused", "keys", names, "err", err, "remote", r.RemoteAddr)
		d.Errors = append([]string{"Nothing was saved: correct the values marked below."}, placeErrors(err, d.Sections)...)
		refused(d)
		return
	}
	s.opts.Log.Info("admin page settings saved", "keys", names, "file", s.opts.ConfigPath, "remote", r.RemoteAddr)
	msg, err := appliedText(a)
	text := "saved " + strings.Join(names, ", ") + " to " + s.opts.ConfigPath + "\n"
	if err != nil {
		text += err.Error()
	} else {
		text += msg
	}
	s.sessions.setFlash(se, &flash{OK: err == nil, Text: text})
	redirect(w, r, back)
}
