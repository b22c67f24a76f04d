package admin

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/sipprot/sipprot/manage"
)

// listKind is the allow or the deny list.
type listKind = manage.Kind

func title(k listKind) string {
	if k == manage.Allow {
		return "Allow list"
	}
	return "Deny list"
}

type listData struct {
	Kind    string
	Title   string
	File    string
	Entries []manage.Entry
	Err     string
}

func (s *server) listPage(k listKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		d := listData{Kind: string(k), Title: title(k)}
		if l, err := s.opts.Service.List(k); err != nil {
			d.Err = readErr(err, string(k), "list", "--json").Error()
		} else {
			d.File, d.Entries = l.File, l.Entries
		}
		s.render(w, http.StatusOK, "list", s.page(se, title(k), string(k), d))
	}
}

// listAdd is `allow add ADDR --note NOTE`; the "--" of the command shown
// is what keeps an address typed as "-x" from being read as a flag.
func (s *server) listAdd(k listKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		addr, note := strings.TrimSpace(r.PostFormValue("address")), r.PostFormValue("note")
		args := []string{string(k), "add"}
		if note != "" {
			args = append(args, "--note="+note)
		}
		s.change(r, se, func(ctx context.Context) (string, string, error) {
			return output(s.opts.Service.Add(ctx, k, addr, note))
		}, append(args, "--", addr)...)
		redirect(w, r, "/"+string(k))
	}
}

// listRemove removes the selected entries, or all of them when "all" is
// checked, after a confirmation page.
func (s *server) listRemove(k listKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		all := r.PostFormValue("all") != ""
		sel := nonEmpty(r.PostForm["sel"])
		back := "/" + string(k)
		if !all && len(sel) == 0 {
			s.sessions.setFlash(se, &flash{Text: "Nothing selected: tick the entries to remove."})
			redirect(w, r, back)
			return
		}
		if r.PostFormValue("confirm") != "yes" {
			c := confirmData{Action: back + "/remove", Back: back, Button: "Yes, remove", Items: sel}
			if all {
				c.Question = "Remove every entry from the " + strings.ToLower(title(k)) + "? Comments in the file stay."
				c.Hidden = append(c.Hidden, hidden{"all", "1"})
				c.Items = nil
			} else {
				c.Question = "Remove these entries from the " + strings.ToLower(title(k)) + "?"
				for _, v := range sel {
					c.Hidden = append(c.Hidden, hidden{"sel", v})
				}
			}
			s.render(w, http.StatusOK, "confirm", s.page(se, "Confirm", string(k), c))
			return
		}
		if all {
			s.change(r, se, func(ctx context.Context) (string, string, error) {
				return output(s.opts.Service.RemoveAll(ctx, k, nil))
			}, string(k), "remove", "--all", "--yes")
		} else {
			s.change(r, se, func(ctx context.Context) (string, string, error) {
				return output(s.opts.Service.Remove(ctx, k, sel))
			}, append([]string{string(k), "remove", "--yes", "--"}, sel...)...)
		}
		redirect(w, r, back)
	}
}

// listImport is `allow import -` with the uploaded CSV: all or nothing,
// the bad rows listed with their lines.
func (s *server) listImport(k listKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		f, _, err := r.FormFile("csv")
		if err != nil {
			s.sessions.setFlash(se, &flash{Text: "Choose a CSV file to upload."})
			redirect(w, r, "/"+string(k))
			return
		}
		defer f.Close()
		s.change(r, se, func(ctx context.Context) (string, string, error) {
			return output(s.opts.Service.Import(ctx, k, f, "stdin"))
		}, string(k), "import", "-")
		redirect(w, r, "/"+string(k))
	}
}

// listExport sends `allow export` as a file to save.
func (s *server) listExport(k listKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		e, err := s.opts.Service.Export(k)
		if err != nil {
			s.sessions.setFlash(se, result{args: []string{string(k), "export"}, err: err}.flash())
			redirect(w, r, "/"+string(k))
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="sipprot-`+string(k)+`list.csv"`)
		http.ServeContent(w, r, "", s.opts.Now(), bytes.NewReader(e.CSV))
	}
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// confirmData is the confirmation page: the question, what it applies
// to, and the form that does it.
type confirmData struct {
	Question string
	Items    []string
	Action   string
	Hidden   []hidden
	Button   string
	Back     string
}

type hidden struct{ Name, Value string }
