package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/savedblocks"
)

const testListen = "127.0.0.1:8465"

// fakeDaemon is the running daemon as the page's operations see it: it
// answers with canned blocks and records every change it is asked to
// put in force, so these tests see what the page does to it.
type fakeDaemon struct {
	mu      sync.Mutex
	changes []string
	blocks  []savedblocks.JSON
	fleet   control.FleetBlocks
}

func (f *fakeDaemon) record(change string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, change)
}

func (f *fakeDaemon) changed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

func (f *fakeDaemon) Status(context.Context) (*control.Status, error) {
	return &control.Status{PID: 42, Running: true, Started: time.Now(), Updated: time.Now()}, nil
}

func (f *fakeDaemon) Blocks(context.Context) ([]savedblocks.JSON, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.blocks), nil
}

func (f *fakeDaemon) Unblock(_ context.Context, ips []string) ([]control.UnblockResult, error) {
	f.record("unblock " + strings.Join(ips, " "))
	var res []control.UnblockResult
	for _, ip := range ips {
		res = append(res, control.UnblockResult{IP: ip})
	}
	return res, nil
}

func (f *fakeDaemon) ReloadLists(context.Context) (control.ListsReply, error) {
	f.record("reload lists")
	return control.ListsReply{Lifted: []string{}}, nil
}

func (f *fakeDaemon) ReloadConfig(context.Context) error {
	f.record("reload config")
	return nil
}

func (f *fakeDaemon) Report(_ context.Context, date string) (attacks.Report, error) {
	return attacks.Report{Date: date}, nil
}

func (f *fakeDaemon) Fleet(context.Context, string, int) (control.FleetBlocks, error) {
	return f.fleet, nil
}

func (f *fakeDaemon) ReloadGeoIP(context.Context) (geoip.Status, error) {
	f.record("reload geoip")
	return geoip.Status{}, nil
}

type fixture struct {
	t      *testing.T
	dir    string
	cfg    string
	token  string
	daemon *fakeDaemon
	h      http.Handler
	cookie *http.Cookie
	csrf   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sipprot.conf")
	text := fmt.Sprintf("# the operator's own comment\n[sip]\nblock_time = \"10m\" # kept\n\n[lists]\nallow = %q\ndeny = %q\n\n[state]\ndir = %q\n\n[admin]\nsocket = %q\n",
		filepath.Join(dir, "allowlist"), filepath.Join(dir, "denylist"), filepath.Join(dir, "state"), filepath.Join(dir, "none.sock"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, cfg: cfg, daemon: &fakeDaemon{}}
	tokenFile := filepath.Join(dir, "state", "admin.token")
	svc := manage.New(manage.Options{ConfigPath: cfg, MustExist: true, Daemon: f.daemon})
	h, err := New(Options{ConfigPath: cfg, Service: svc, TokenFile: tokenFile, Listen: testListen,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.token, _, err = EnsureToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends a request with the session cookie, if any, and Host set to
// the listen address.
func (f *fixture) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://"+testListen+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if f.cookie != nil {
		r.AddCookie(f.cookie)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) login() {
	f.t.Helper()
	w := f.do("POST", "/login", url.Values{"token": {f.token}})
	if w.Code != http.StatusSeeOther {
		f.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			f.cookie = c
		}
	}
	if f.cookie == nil {
		f.t.Fatal("login set no session cookie")
	}
	m := csrfRE.FindStringSubmatch(f.do("GET", "/allow", nil).Body.String())
	if m == nil {
		f.t.Fatal("no CSRF token in the page")
	}
	f.csrf = m[1]
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

func (f *fixture) write(name, text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path(name), []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// read returns a file's contents, "" when it does not exist.
func (f *fixture) read(name string) string {
	f.t.Helper()
	b, err := os.ReadFile(f.path(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.t.Fatal(err)
	}
	return string(b)
}

func TestSessionCookie(t *testing.T) {
	f := newFixture(t)
	f.login()
	c := f.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
}

func TestNoSession(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/settings", "/allow", "/deny", "/blocks", "/notifications", "/geoip", "/allow/export.csv"} {
		w := f.do("GET", path, nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d %q, want a redirect to /login", path, w.Code, w.Header().Get("Location"))
		}
	}
	w := f.do("POST", "/allow/add", url.Values{"address": {"192.0.2.7"}})
	if w.Code != http.StatusForbidden {
		t.Errorf("POST without a session: %d, want 403", w.Code)
	}
	// A forged or expired cookie is no session either.
	f.cookie = &http.Cookie{Name: sessionCookie, Value: "forged"}
	if w := f.do("POST", "/allow/add", url.Values{"address": {"192.0.2.7"}, "csrf": {"x"}}); w.Code != http.StatusForbidden {
		t.Errorf("POST with a forged cookie: %d, want 403", w.Code)
	}
	if got := f.read("allowlist"); got != "" || len(f.daemon.changed()) != 0 {
		t.Errorf("changes made without a session: allowlist %q, daemon %v", got, f.daemon.changed())
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	f.login()
	for name, form := range map[string]url.Values{
		"none":  {"address": {"192.0.2.7"}},
		"wrong": {"address": {"192.0.2.7"}, "csrf": {f.csrf + "x"}},
		"empty": {"address": {"192.0.2.7"}, "csrf": {""}},
	} {
		if w := f.do("POST", "/allow/add", form); w.Code != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d, want 403", name, w.Code)
		}
	}
	if got := f.read("allowlist"); got != "" || len(f.daemon.changed()) != 0 {
		t.Fatalf("changes made without the CSRF token: allowlist %q, daemon %v", got, f.daemon.changed())
	}
	// A token in the query string is not the form's: refused too.
	if w := f.do("POST", "/allow/add?csrf="+url.QueryEscape(f.csrf), url.Values{"address": {"192.0.2.7"}}); w.Code != http.StatusForbidden {
		t.Errorf("CSRF token in the URL: %d, want 403", w.Code)
	}
	w := f.do("POST", "/allow/add", url.Values{"address": {"192.0.2.7"}, "note": {"-x front"}, "csrf": {f.csrf}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("with the token: %d %s", w.Code, w.Body)
	}
	if got := f.read("allowlist"); got != "192.0.2.7 -x front\n" {
		t.Errorf("allowlist %q, want the entry with its note", got)
	}
	if got := f.daemon.changed(); !slices.Equal(got, []string{"reload lists"}) {
		t.Errorf("daemon asked %v, want the lists reloaded", got)
	}
	// The next page shows the command that does the same, and its output.
	body := f.do("GET", "/allow", nil).Body.String()
	if !strings.Contains(body, "$ sipprot allow add &#39;--note=-x front&#39; -- 192.0.2.7") ||
		!strings.Contains(body, "added 192.0.2.7 to the allow list ("+f.path("allowlist")+")\nin force in the running daemon (allow 0, deny 0 entries)") {
		t.Errorf("the result is not on the page:\n%s", body)
	}
}

func TestGetChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.login()
	f.write("allowlist", "192.0.2.7\n")
	f.daemon.blocks = []savedblocks.JSON{{IP: netip.MustParseAddr("198.51.100.66"), Reason: "user_agent", Active: true, Count: 1, Until: time.Now().Add(time.Hour)}}
	config := f.read("sipprot.conf")
	for _, path := range []string{"/allow/add", "/allow/remove", "/blocks/unblock", "/settings?sip.block_time=1m", "/logout", "/geoip/update",
		"/", "/allow", "/blocks", "/geoip", "/notifications"} {
		f.do("GET", path, nil)
	}
	if got := f.daemon.changed(); len(got) != 0 {
		t.Errorf("GETs asked the daemon for %v", got)
	}
	if f.read("allowlist") != "192.0.2.7\n" || f.read("sipprot.conf") != config || f.read("country.mmdb") != "" {
		t.Errorf("a GET changed a file")
	}
	if w := f.do("GET", "/allow/add", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /allow/add: %d, want 405", w.Code)
	}
}

func TestHostHeader(t *testing.T) {
	f := newFixture(t)
	f.login()
	for host, want := range map[string]int{
		testListen:              http.StatusOK,
		"localhost:8465":        http.StatusOK,
		"LOCALHOST:8465":        http.StatusOK,
		"localhost:9000":        http.StatusOK, // ssh -L 9000:127.0.0.1:8465
		"127.0.0.1:9000":        http.StatusOK,
		"[::1]:8465":            http.StatusOK,
		"evil.example:8465":     http.StatusMisdirectedRequest,
		"evil.example":          http.StatusMisdirectedRequest,
		"localhost.:8465":       http.StatusMisdirectedRequest,
		"198.51.100.4:8465":     http.StatusMisdirectedRequest,
		"":                      http.StatusMisdirectedRequest,
		"127.0.0.1.nip.io:8465": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest("GET", "/allow", nil)
		r.Host = host
		r.AddCookie(f.cookie)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
	// A foreign Host is refused before anything else, login included.
	r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {f.token}}.Encode()))
	r.Host = "rebound.example:8465"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest || len(w.Result().Cookies()) > 0 {
		t.Errorf("login through a foreign Host: %d, cookies %v", w.Code, w.Result().Cookies())
	}
}

func TestHostCheck(t *testing.T) {
	tests := []struct {
		listen string
		host   string
		tls    bool
		ok     bool
	}{
		{"127.0.0.1:8465", "127.0.0.1:8465", false, true},
		{"127.0.0.1:8465", "localhost:8465", false, true},
		{"127.0.0.1:8465", "localhost", false, true},
		{"127.0.0.1:8465", "attacker.example:8465", false, false},
		{"127.0.0.1:8465", "[fe80::1%eth0]:8465", false, false},
		{"[::1]:8465", "[::1]:8465", false, true},
		{"[::1]:8465", "127.0.0.1:8465", false, true},
		{"localhost:8465", "127.0.0.1:8465", false, true},
		{"localhost:8465", "[::1]:8465", false, true},
		{"0.0.0.0:8465", "198.51.100.4:8465", true, true},
		{"0.0.0.0:8465", "[2001:db8::4]:8465", true, true},
		{"0.0.0.0:8465", "198.51.100.4:8466", true, false},
		{"0.0.0.0:8465", "pbx.example:8465", true, false},
		{"0.0.0.0:8465", "localhost:8465", true, true},
		{"[::]:443", "203.0.113.5", true, true},
		{"[::]:443", "203.0.113.5", false, false}, // plain HTTP means port 80
		{"pbx.example:8465", "PBX.example:8465", true, true},
		{"pbx.example:8465", "pbx.example:8466", true, false},
		{"pbx.example:8465", "198.51.100.4:8465", true, false},
		{"198.51.100.4:8465", "198.51.100.4:8465", true, true},
		{"198.51.100.4:8465", "198.51.100.5:8465", true, false},
		{"198.51.100.4:8465", "localhost:8465", true, false},
	}
	for _, tt := range tests {
		h, err := newHostCheck(tt.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.ok(tt.host, tt.tls); got != tt.ok {
			t.Errorf("listen %s, Host %q (tls %v): %v, want %v", tt.listen, tt.host, tt.tls, got, tt.ok)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/login", "/", "/assets/style.css"} {
		w := f.do("GET", path, nil)
		h := w.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

func TestLogin(t *testing.T) {
	failDelay = 0
	t.Cleanup(func() { failDelay = 300 * time.Millisecond })
	f := newFixture(t)
	w := f.do("POST", "/login", url.Values{"token": {"wrong"}})
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) > 0 {
		t.Fatalf("wrong secret: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	for range maxFailures {
		f.do("POST", "/login", url.Values{"token": {"wrong"}})
	}
	// Past the limit even the right secret waits for the window to move.
	if w := f.do("POST", "/login", url.Values{"token": {f.token}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("after %d failures: %d, want 429", maxFailures+1, w.Code)
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t)
	f.login()
	if w := f.do("POST", "/logout", url.Values{"csrf": {f.csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := f.do("GET", "/", nil); w.Code != http.StatusSeeOther {
		t.Errorf("after logout the old cookie still opens the page: %d", w.Code)
	}
}

func TestAttackerTextEscaped(t *testing.T) {
	f := newFixture(t)
	f.write("allowlist", "192.0.2.7 <script>alert(1)</script>\n")
	if err := json.Unmarshal([]byte(`[{"ip":"198.51.100.66","reason":"user_agent","active":true,"permanent":false,"count":1,"hits":1,`+
		`"first":"2026-01-01T00:00:00Z","last":"2026-01-01T00:00:00Z","until":"2099-01-01T00:00:00Z","user_agent":"<script>alert(2)</script>\"><img src=x onerror=alert(3)>","country":"<b>"}]`), &f.daemon.blocks); err != nil {
		t.Fatal(err)
	}
	f.login()
	for path, want := range map[string]string{
		"/allow":  "&lt;script&gt;alert(1)&lt;/script&gt;",
		"/blocks": "&lt;script&gt;alert(2)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(3)&gt;",
	} {
		body := f.do("GET", path, nil).Body.String()
		if !strings.Contains(body, want) {
			t.Errorf("%s: %q not found escaped:\n%s", path, want, body)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "<b>"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: %q reached the page unescaped", path, bad)
			}
		}
	}
}

func TestSettingsRefused(t *testing.T) {
	f := newFixture(t)
	f.login()
	before, _ := os.ReadFile(f.cfg)
	form := f.settingsForm()
	form.Set("sip.block_threshold", "99")
	form.Set("sip.block_time", "5m")
	w := f.do("POST", "/settings", form)
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad value: %d", w.Code)
	}
	body := w.Body.String()
	i := strings.Index(body, `id="field-sip.block_threshold"`)
	j := strings.Index(body, `id="field-sip.blocked_user_agents"`)
	if i < 0 || j < i || !strings.Contains(body[i:j], "sip.block_threshold: must be between 1 and 20, got 99") {
		t.Errorf("the error is not beside its field:\n%s", body)
	}
	if !strings.Contains(body[i:j], `class="field-error"`) {
		t.Errorf("no field error beside sip.block_threshold")
	}
	// The values stay as typed so the operator can fix them.
	if !strings.Contains(body, `name="sip.block_time" value="5m"`) {
		t.Errorf("the typed value was lost")
	}
	after, _ := os.ReadFile(f.cfg)
	if string(after) != string(before) {
		t.Errorf("a refused save changed the file:\n%s", after)
	}

	form.Set("sip.block_threshold", "not a number")
	if w := f.do("POST", "/settings", form); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "is not a whole number") {
		t.Errorf("a non-number: %d", w.Code)
	}
}

func TestSettingsSaved(t *testing.T) {
	f := newFixture(t)
	f.login()
	form := f.settingsForm()
	form.Set("sip.block_time", "5m")
	form.Set("notify.recipients", "noc@example.com\n\n ops@example.com \n")
	form.Del("dns.enabled") // unticked
	w := f.do("POST", "/settings", form)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", w.Code, w.Body)
	}
	got, _ := os.ReadFile(f.cfg)
	for _, want := range []string{"# the operator's own comment", `block_time = "5m" # kept`,
		`recipients = ["noc@example.com", "ops@example.com"]`, "enabled = false"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the file lacks %q:\n%s", want, got)
		}
	}
	// Only the changed keys were written: the rest keep their defaults.
	if strings.Contains(string(got), "block_threshold") {
		t.Errorf("an unchanged key was written:\n%s", got)
	}
	body := f.do("GET", "/settings", nil).Body.String()
	if !strings.Contains(body, "saved sip.block_time, dns.enabled, notify.recipients") {
		t.Errorf("no result on the page:\n%s", body)
	}
}

// settingsForm is the settings page's form as a browser would send it.
func (f *fixture) settingsForm() url.Values {
	f.t.Helper()
	body := f.do("GET", "/settings", nil).Body.String()
	form := url.Values{"csrf": {f.csrf}}
	for _, m := range regexp.MustCompile(`<input type="(?:text|number)" id="[^"]+" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	for _, m := range regexp.MustCompile(`<input type="checkbox" id="[^"]+" name="([^"]+)" value="on" checked>`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], "on")
	}
	for _, m := range regexp.MustCompile(`(?s)<textarea id="[^"]+" name="([^"]+)"[^>]*>(.*?)</textarea>`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	for _, m := range regexp.MustCompile(`(?s)<select id="[^"]+" name="([^"]+)">.*?<option selected>([^<]*)</option>`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("sip.block_time") != "10m" || form.Get("dns.enabled") != "on" || form.Get("log.level") != "info" {
		f.t.Fatalf("the settings form does not read back: %v", form)
	}
	return form
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func TestDefaultsDocumented(t *testing.T) {
	for _, sv := range fields(confDefaults(), allKeys) {
		for _, f := range sv.Fields {
			if f.Help == "" || f.Default == "" {
				t.Errorf("%s: no meaning or default from the embedded defaults (%+v)", f.Name, f)
			}
		}
	}
	if d := defaultsDoc["sip.blocked_user_agents"].Default; !strings.HasPrefix(d, `["friendly-scanner",`) || !strings.HasSuffix(d, `"smap"]`) {
		t.Errorf("multi-line default read as %q", d)
	}
	if h := defaultsDoc["sip.failures_per_minute"].Help; !strings.Contains(h, "Unauthorized attempts") || !strings.Contains(h, "(1-1000)") {
		t.Errorf("two-line help read as %q", h)
	}
}

func TestConfirmBeforeRemove(t *testing.T) {
	f := newFixture(t)
	const list = "# phones\n192.0.2.7 front desk\n198.51.100.9\n"
	f.write("allowlist", list)
	f.login()
	w := f.do("POST", "/allow/remove", url.Values{"csrf": {f.csrf}, "all": {"1"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Remove every entry") {
		t.Fatalf("no confirmation: %d", w.Code)
	}
	if got := f.read("allowlist"); got != list {
		t.Fatalf("removed before the confirmation: %q", got)
	}
	// A selection is all or nothing: "-rf" is no address, so nothing goes.
	f.do("POST", "/allow/remove", url.Values{"csrf": {f.csrf}, "sel": {"192.0.2.7/32", "-rf"}, "confirm": {"yes"}})
	if got := f.read("allowlist"); got != list {
		t.Errorf("a bad selection removed entries: %q", got)
	}
	if body := f.do("GET", "/allow", nil).Body.String(); !strings.Contains(body, "$ sipprot allow remove --yes -- 192.0.2.7/32 -rf") ||
		!strings.Contains(body, "error: nothing removed: ") {
		t.Errorf("the refusal is not on the page:\n%s", body)
	}
	f.do("POST", "/allow/remove", url.Values{"csrf": {f.csrf}, "sel": {"192.0.2.7/32"}, "confirm": {"yes"}})
	if got := f.read("allowlist"); got != "# phones\n198.51.100.9\n" {
		t.Errorf("after removing one: %q", got)
	}
	f.do("POST", "/allow/remove", url.Values{"csrf": {f.csrf}, "all": {"1"}, "confirm": {"yes"}})
	if got := f.read("allowlist"); got != "# phones\n" {
		t.Errorf("after removing all: %q", got)
	}
	if body := f.do("GET", "/allow", nil).Body.String(); !strings.Contains(body, "$ sipprot allow remove --all --yes") {
		t.Errorf("the command is not on the page:\n%s", body)
	}
}

// With [fleet] on, the Dynamic blocks page lists the fleet's blocks with
// their origin and scenario, and filters them by address like the rest.
func TestBlocksPageShowsFleet(t *testing.T) {
	f := newFixture(t)
	f.daemon.fleet = control.FleetBlocks{Total: 2, Blocks: []control.FleetBlock{
		{Prefix: "198.51.100.0/24", Origin: "sipprot/pbx2", Scenario: "sipprot/failures", Until: time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC), ID: 1},
		{Prefix: "203.0.113.5/32", Origin: "cscli", Scenario: "manual", Until: time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC), ID: 2},
	}}
	f.login()
	w := f.do("GET", "/blocks", nil)
	if strings.Contains(w.Body.String(), `id="fleet-blocks"`) {
		t.Fatal("a fleet table with [fleet] off")
	}
	text, _ := os.ReadFile(f.cfg)
	os.WriteFile(f.cfg, append(text, "\n[fleet]\nlapi_url = \"http://192.0.2.5:8080\"\napi_key_file = \"/k\"\n"...), 0o600)
	body := f.do("GET", "/blocks", nil).Body.String()
	for _, want := range []string{`<h2 id="fleet">Fleet (2)</h2>`, "<code>198.51.100.0/24</code></td><td>sipprot/pbx2</td><td>sipprot/failures</td>", "<code>203.0.113.5/32</code></td><td>cscli</td><td>manual</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the page:\n%s", want, body)
		}
	}
	body = f.do("GET", "/blocks?address=198.51.100.7", nil).Body.String()
	if !strings.Contains(body, "198.51.100.0/24") || strings.Contains(body, "203.0.113.5/32") {
		t.Errorf("the address filter does not hold for fleet blocks:\n%s", body)
	}
}
