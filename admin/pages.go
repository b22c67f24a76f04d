package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

func assetsFS() fs.FS {
	sub, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// pageNames are the templates that make a whole page with the layout.
var pageNames = []string{"login", "overview", "settings", "list", "blocks", "notify", "geoip", "confirm"}

// pages holds each page's template, layout included.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format(time.DateTime)
	},
	"country": countryName,
	"dash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
}

func parsePages() (*pages, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// page is what every template gets: the layout's fields and the page's.
type page struct {
	Title string
	Nav   string // the tab to mark as current
	CSRF  string // empty on the login page: no session, no menu
	Flash *flash
	Data  any
}

func (s *server) page(se *session, title, nav string, data any) *page {
	return &page{Title: title, Nav: nav, CSRF: se.csrf, Flash: s.sessions.takeFlash(se), Data: data}
}

// render writes the page, or a plain error if the template fails; the
// page is built in full first so a failure does not send half of it.
func (s *server) render(w http.ResponseWriter, status int, name string, p *page) {
	var b bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&b, "layout", p); err != nil {
		s.opts.Log.Error("admin page failed to render", "page", name, "err", err)
		http.Error(w, "the page failed to render; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
