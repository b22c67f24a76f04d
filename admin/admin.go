// Package admin is sipprot's management web page: the status, the
// settings, the allow and deny lists, the dynamic blocks, the
// notification recipients and the country database, served by the daemon
// on [admin] listen.
//
// The page changes nothing by itself: every action is the operation of
// package manage that the sipprot command doing the same from a shell
// runs (Options.Service), settings included (conf.SetKeys, the code
// `config check` validates with). So the page, the CLI and the running
// daemon always agree, and the page shows that command and what it
// prints.
//
// Security: a login with the secret in the token file (EnsureToken), a
// server-side session in an HttpOnly, SameSite=Strict cookie, a CSRF
// token in every form, changes by POST only, strict security headers,
// and every value rendered by html/template, which escapes what an
// attacker controls (User-Agents, notes). Against DNS rebinding the Host
// header must be a name no attacker can point: on a loopback listen
// address (the default) "localhost" or a loopback address, on any port so
// SSH tunnels work; otherwise the listen host, or any IP address for a
// wildcard listen, with the listen port.
package admin

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/manage"
)

// Options configure the page.
type Options struct {
	// ConfigPath is the config file: settings are read from it and
	// written to it.
	ConfigPath string
	// Config returns the config in force in the daemon; nil means load
	// ConfigPath.
	Config func() *conf.Config
	// Service runs the operations, on ConfigPath; every read and change
	// goes through it.
	Service *manage.Service
	// TokenFile holds the login secret (TokenPath); New creates it if
	// missing.
	TokenFile string
	// Listen is the address served, host:port as configured: requests
	// must name it in their Host header.
	Listen string
	// Log receives logins and changes; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limits on requests: uploads are list CSVs, operations are local.
const (
	maxBody       = 8 << 20
	cliTimeout    = 2 * time.Minute
	updateTimeout = 10 * time.Minute // geoip update downloads a database
)

// server is the page.
type server struct {
	opts     Options
	hosts    *hostCheck
	sessions *sessions
	pages    *pages
	mux      *http.ServeMux
}

// New returns the page's handler. It creates the token file if there is
// none yet.
func New(opts Options) (http.Handler, error) {
	if opts.ConfigPath == "" || opts.Service == nil || opts.TokenFile == "" {
		return nil, errors.New("admin: ConfigPath, Service and TokenFile are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Config == nil {
		opts.Config = func() *conf.Config {
			c, err := conf.Load(opts.ConfigPath, false)
			if err != nil {
				return conf.Defaults()
			}
			return c
		}
	}
	hosts, err := newHostCheck(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if _, created, err := EnsureToken(opts.TokenFile); err != nil {
		return nil, err
	} else if created {
		opts.Log.Info("admin page login secret created; `sipprot admin token` prints it", "file", opts.TokenFile)
	}
	p, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &server{opts: opts, hosts: hosts, sessions: newSessions(opts.Now), pages: p, mux: http.NewServeMux()}
	s.routes()
	return s.guard(http.NewCrossOriginProtection().Handler(s.mux)), nil
}

func (s *server) routes() {
	m := s.mux
	m.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assetsFS())))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.auth(s.logout))

	m.HandleFunc("GET /{$}", s.auth(s.overview))
	m.HandleFunc("GET /settings", s.auth(s.settingsPage))
	m.HandleFunc("POST /settings", s.auth(s.saveSettings))
	for _, k := range []listKind{manage.Allow, manage.Deny} {
		m.HandleFunc("GET /"+string(k), s.auth(s.listPage(k)))
		m.HandleFunc("POST /"+string(k)+"/add", s.auth(s.listAdd(k)))
		m.HandleFunc("POST /"+string(k)+"/remove", s.auth(s.listRemove(k)))
		m.HandleFunc("POST /"+string(k)+"/import", s.auth(s.listImport(k)))
		m.HandleFunc("GET /"+string(k)+"/export.csv", s.auth(s.listExport(k)))
	}
	m.HandleFunc("GET /blocks", s.auth(s.blocksPage))
	m.HandleFunc("POST /blocks/unblock", s.auth(s.unblock))
	m.HandleFunc("GET /notifications", s.auth(s.notifyPage))
	m.HandleFunc("POST /notifications/add", s.auth(s.notifyAdd))
	m.HandleFunc("POST /notifications/remove", s.auth(s.notifyRemove))
	m.HandleFunc("POST /notifications/test", s.auth(s.notifyTest))
	m.HandleFunc("POST /notifications/settings", s.auth(s.saveNotifySettings))
	m.HandleFunc("GET /geoip", s.auth(s.geoipPage))
	m.HandleFunc("POST /geoip/countries", s.auth(s.saveCountries))
	m.HandleFunc("POST /geoip/update", s.auth(s.geoipUpdate))
}

// guard runs before every handler: the Host check and the security
// headers.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !s.hosts.ok(r.Host, r.TLS != nil) {
			s.opts.Log.Warn("admin request with a foreign Host header refused", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "this page answers only to its own address (Host header refused)", http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// handlerFunc is a handler that needs a session.
type handlerFunc func(w http.ResponseWriter, r *http.Request, se *session)

// auth lets through requests with a session, and POSTs only with the
// session's CSRF token. Without a session a GET goes to the login page
// and a POST is refused.
func (s *server) auth(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sessions.get(r)
		if se == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(se.csrf)) != 1 {
				s.opts.Log.Warn("admin POST without a valid CSRF token refused", "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, se)
	}
}

// parseForm parses a POST body, multipart (a CSV upload) or not.
func parseForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return fmt.Errorf("bad form: %w", err)
	}
	return nil
}

// redirect ends an action: the browser loads the page again with GET, so
// a reload does not repeat the action.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}
