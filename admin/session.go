package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Sessions live in memory only: a daemon restart logs everyone out, which
// is also how an operator ends every session at once.
const (
	sessionCookie = "sipprot_session"
	sessionIdle   = time.Hour      // ends an unattended browser's session
	sessionMax    = 12 * time.Hour // ends any session, active or not
	maxSessions   = 64             // bounds memory against login floods
)

// Login attempts: a few mistakes are fine, a guessing loop is not. Past
// maxFailures in loginWindow every login is refused until the window
// moves; the 256-bit secret cannot be guessed anyway, so this only keeps a
// loop from burning CPU and filling the log.
const (
	maxFailures = 10
	loginWindow = time.Minute
)

// failDelay slows each wrong guess; tests shorten it.
var failDelay = 300 * time.Millisecond

// flash is the result of an action, shown once on the next page.
type flash struct {
	OK      bool
	Command string // the CLI command run, as a shell line
	Text    string // its output or error
}

type session struct {
	id      string
	csrf    string
	created time.Time
	seen    time.Time
	flash   *flash
}

// sessions is the server-side session table.
type sessions struct {
	mu    sync.Mutex
	now   func() time.Time
	byID  map[string]*session
	fails []time.Time // failed logins in the last loginWindow
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*session{}}
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session, dropping the oldest when the table is full.
func (s *sessions) create() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expire(now)
	if len(s.byID) >= maxSessions {
		var oldest *session
		for _, se := range s.byID {
			if oldest == nil || se.seen.Before(oldest.seen) {
				oldest = se
			}
		}
		delete(s.byID, oldest.id)
	}
	se := &session{id: randomID(), csrf: randomID(), created: now, seen: now}
	s.byID[se.id] = se
	return se
}

func (s *sessions) expire(now time.Time) {
	for id, se := range s.byID {
		if now.Sub(se.seen) > sessionIdle || now.Sub(se.created) > sessionMax {
			delete(s.byID, id)
		}
	}
}

// get returns the request's live session, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	se := s.byID[c.Value]
	if se == nil {
		return nil
	}
	if now.Sub(se.seen) > sessionIdle || now.Sub(se.created) > sessionMax {
		delete(s.byID, se.id)
		return nil
	}
	se.seen = now
	return se
}

func (s *sessions) remove(se *session) {
	s.mu.Lock()
	delete(s.byID, se.id)
	s.mu.Unlock()
}

// setFlash and takeFlash pass an action's result to the page the browser
// is redirected to.
func (s *sessions) setFlash(se *session, f *flash) {
	s.mu.Lock()
	se.flash = f
	s.mu.Unlock()
}

func (s *sessions) takeFlash(se *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := se.flash
	se.flash = nil
	return f
}

// loginAllowed reports whether a login may be tried now.
func (s *sessions) loginAllowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	kept := s.fails[:0]
	for _, t := range s.fails {
		if now.Sub(t) < loginWindow {
			kept = append(kept, t)
		}
	}
	s.fails = kept
	return len(s.fails) < maxFailures
}

func (s *sessions) loginFailed() {
	s.mu.Lock()
	s.fails = append(s.fails, s.now())
	s.mu.Unlock()
}

// equalSecret compares two secrets in constant time; hashing first makes
// the time independent of the lengths too.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
