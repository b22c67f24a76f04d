package admin

import (
	"net/http"
	"time"
)

type loginData struct {
	Error string
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessions.get(r) != nil {
		redirect(w, r, "/")
		return
	}
	s.render(w, http.StatusOK, "login", &page{Title: "Log in", Data: loginData{}})
}

// login trades the secret for a session. The login form has no CSRF
// token (there is no session yet to tie it to); cross-site posts are
// refused by SameSite, the origin check and the Host check.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		s.render(w, status, "login", &page{Title: "Log in", Data: loginData{Error: msg}})
	}
	if !s.sessions.loginAllowed() {
		s.opts.Log.Warn("admin login refused: too many failed logins", "remote", r.RemoteAddr)
		fail(http.StatusTooManyRequests, "Too many failed logins: wait a minute and try again.")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "Bad form.")
		return
	}
	want, err := readToken(s.opts.TokenFile)
	if err != nil {
		s.opts.Log.Error("admin login impossible", "err", err)
		fail(http.StatusInternalServerError, "The login secret cannot be read; see the daemon's log.")
		return
	}
	if !equalSecret(r.PostFormValue("token"), want) {
		s.sessions.loginFailed()
		s.opts.Log.Warn("admin login failed", "remote", r.RemoteAddr)
		time.Sleep(failDelay)
		fail(http.StatusUnauthorized, "Wrong secret. `sipprot admin token` prints it (as root).")
		return
	}
	se := s.sessions.create()
	setSessionCookie(w, r, se.id, 0)
	s.opts.Log.Info("admin login", "remote", r.RemoteAddr)
	redirect(w, r, "/")
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, se *session) {
	s.sessions.remove(se)
	setSessionCookie(w, r, "", -1)
	redirect(w, r, "/login")
}
