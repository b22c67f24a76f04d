package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sipprot/sipprot/admin"
	"github.com/sipprot/sipprot/cli"
	"github.com/sipprot/sipprot/daemon/daemontest"
	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/policy"
)

// The browser test drives the page in a real headless Chromium, against
// a real daemon running in the test process (idle queues, no firewall):
// every change the page makes goes through manage to the daemon's control
// API, and the test checks it with the CLI and with the daemon's engine.

// chromiumPath finds the browser: $SIPPROT_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("SIPPROT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// world is a daemon with its config, and the page in front of it.
type world struct {
	t      *testing.T
	dir    string
	cfg    string
	engine *policy.Engine
	daemon *daemontest.Daemon
	url    string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, cfg: filepath.Join(dir, "sipprot.conf")}
	text := fmt.Sprintf("# written by the test\n[sip]\nblock_time = \"10m\"\n\n[geoip]\ndatabase = %q\n\n[lists]\nallow = %q\ndeny = %q\n\n[state]\ndir = %q\n\n[admin]\nsocket = %q\n",
		w.path("country.mmdb"), w.path("allowlist"), w.path("denylist"), w.path("state"), w.path("sipprot.sock"))
	if err := os.WriteFile(w.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	w.startPage()
	return w
}

func (w *world) path(name string) string { return filepath.Join(w.dir, name) }

func (w *world) startDaemon() {
	w.daemon = daemontest.Start(w.t, w.cfg)
	w.engine = w.daemon.Engine
}

// startPage serves the page on 127.0.0.1 as the daemon would, its
// operations reaching the daemon through the control API.
func (w *world) startPage() {
	srv := httptest.NewUnstartedServer(nil)
	h, err := admin.New(admin.Options{
		ConfigPath: w.cfg,
		Service:    manage.New(manage.Options{ConfigPath: w.cfg, MustExist: true, Daemon: w.daemon.Client}),
		TokenFile:  w.path("state/admin.token"),
		Listen:     srv.Listener.Addr().String(),
		Log:        slog.New(slog.NewTextHandler(w.t.Output(), nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	w.t.Cleanup(srv.Close)
	w.url = srv.URL
}

// cli runs sipprot with the world's config, as an operator would.
func (w *world) cli(args ...string) string {
	w.t.Helper()
	root := cli.NewRoot(cli.Deps{})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--config", w.cfg}, args...))
	if err := root.Execute(); err != nil {
		w.t.Fatalf("sipprot %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// listed returns the networks of a list, as `list --json` has them.
func (w *world) listed(kind string) []string {
	var doc struct {
		Entries []struct{ Network, Note string }
	}
	if err := json.Unmarshal([]byte(w.cli(kind, "list", "--json")), &doc); err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range doc.Entries {
		out = append(out, e.Network)
	}
	return out
}

// scan sends the daemon's engine one OPTIONS from src with User-Agent ua.
func (w *world) scan(src, ua string) policy.Decision { return w.daemon.Scan(src, ua) }

// waitBlocks waits until the daemon has n dynamic blocks with their
// User-Agents.
func (w *world) waitBlocks(n int) { w.t.Helper(); w.daemon.WaitBlocks(n) }

// browser is one headless Chromium tab on the page.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	dialogs atomic.Int32
}

func newBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, shots: screenshotDir(t)}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	// Any dialog would be a script we did not write: an injection.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs.Add(1)
			t.Errorf("a JavaScript dialog opened: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// screenshotDir is where the pages' screenshots go: $SIPPROT_TEST_OUTPUT
// if set, else the test's artifact directory (kept with go test
// -artifacts -outputdir DIR).
func screenshotDir(t *testing.T) string {
	dir := t.ArtifactDir()
	if out := os.Getenv("SIPPROT_TEST_OUTPUT"); out != "" {
		dir = filepath.Join(out, "admin-screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != http.StatusOK {
		b.t.Fatalf("open %s: status %d", path, resp.Status)
	}
}

// click clicks what submits a form and waits for the next page; it
// returns that page's status.
func (b *browser) click(sel string) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status
}

func (b *browser) tick(sel string) {
	b.t.Helper()
	b.do("tick "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

// flash is the result box of the last action: ok or error, and its text.
func (b *browser) flash(wantOK bool, want ...string) string {
	b.t.Helper()
	text := b.text("#flash")
	ok := b.count("#flash.ok") == 1
	if ok != wantOK {
		b.t.Errorf("result ok=%v, want %v:\n%s", ok, wantOK, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			b.t.Errorf("result lacks %q:\n%s", w, text)
		}
	}
	return text
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium binary found (apt-get install chromium, or set SIPPROT_CHROMIUM): the browser test needs a real browser")
	}
	w := newWorld(t)

	// Real attacks: two scanners, one whose User-Agent carries markup.
	for src, ua := range map[string]string{"198.51.100.66": "friendly-scanner", "198.51.100.67": `friendly-scanner <script>alert(2)</script>`} {
		if d := w.scan(src, ua); d.Reason != policy.ReasonUserAgent {
			t.Fatalf("%s: %v, want a user_agent block", src, d)
		}
	}
	w.waitBlocks(2)

	token := strings.TrimSpace(w.cli("admin", "token"))
	if fi, err := os.Stat(w.path("state/admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}

	b := newBrowser(t, chromium, w.url)

	t.Run("login", func(t *testing.T) {
		b.t = t
		b.open("/")
		if loc := b.location(); loc != "/login" {
			t.Fatalf("without a session / shows %s, want /login", loc)
		}
		b.shot("0-login")
		b.fill("#token", "wrong")
		if st := b.click("form.login button"); st != http.StatusUnauthorized {
			t.Errorf("wrong secret: %d", st)
		}
		b.fill("#token", token)
		b.click("form.login button")
		if loc := b.location(); loc != "/" {
			t.Fatalf("after login: %s", loc)
		}
	})

	t.Run("overview", func(t *testing.T) {
		b.t = t
		if got := b.text("table.status"); !strings.Contains(got, "Dynamic (temporary)2") {
			t.Errorf("status table: %q", got)
		}
		if n := b.count("svg rect.bar"); n != 24+7 {
			t.Errorf("%d bars, want 24 + 7", n)
		}
		if got := b.text("figure.chart figcaption"); !strings.Contains(got, "2 in all") {
			t.Errorf("the chart lacks the attacks: %q", got)
		}
		b.shot("1-overview")
	})

	t.Run("allow", func(t *testing.T) {
		b.t = t
		b.open("/allow")
		const xss = `<script>alert(1)</script>`
		for _, e := range [][2]string{{"192.0.2.7", xss}, {"192.0.2.8", "desk 8"}, {"192.0.2.9", "desk 9"}, {"2001:db8::/64", "lab"}} {
			b.fill("#address", e[0])
			b.fill("#note", e[1])
			b.click("#add")
			b.flash(true, "added "+e[0])
		}
		if got := b.text("td.note"); got != xss {
			t.Errorf("the note shows as %q, want the text %q", got, xss)
		}
		if n := b.count("td.note script, td.note *"); n != 0 {
			t.Errorf("the note became %d elements", n)
		}
		if out := w.cli("allow", "list"); !regexp.MustCompile(`(?m)^192\.0\.2\.7 +` + regexp.QuoteMeta(xss) + `$`).MatchString(out) {
			t.Errorf("the CLI does not see the page's entry:\n%s", out)
		}
		b.shot("3-allow")

		// One, with confirmation.
		b.tick(`input[name=sel][value="192.0.2.8/32"]`)
		b.click("#remove")
		if got := b.text(".confirm"); !strings.Contains(got, "192.0.2.8/32") {
			t.Errorf("confirmation: %q", got)
		}
		b.shot("3b-allow-confirm")
		b.click("#confirm-yes")
		b.flash(true, "removed 192.0.2.8")
		// Several.
		b.tick(`input[name=sel][value="192.0.2.9/32"]`)
		b.tick(`input[name=sel][value="2001:db8::/64"]`)
		b.click("#remove")
		b.click("#confirm-yes")
		b.flash(true, "removed 2 entries")
		if got := w.listed("allow"); strings.Join(got, " ") != "192.0.2.7/32" {
			t.Errorf("after removing: %v", got)
		}

		// A CSV with a bad row: the error names the line, nothing changes.
		before, err := os.ReadFile(w.path("allowlist"))
		if err != nil {
			t.Fatal(err)
		}
		csv := w.path("upload.csv")
		os.WriteFile(csv, []byte("address,note\n192.0.2.20,good row\nnot-an-ip,bad row\n192.0.2.21,another\n"), 0o644)
		b.do("choose the CSV", chromedp.SetUploadFiles(chromedp.CSS("#csv"), []string{csv}))
		b.click("#upload")
		b.flash(false, "stdin:3", "not-an-ip")
		after, _ := os.ReadFile(w.path("allowlist"))
		if string(after) != string(before) {
			t.Errorf("a refused CSV changed the list:\n%s", after)
		}
		b.shot("3c-allow-csv-refused")

		// All: the header box, then the confirmation.
		b.tick("#select-all")
		if n := b.count("tbody input[name=sel]:checked"); n != 1 {
			t.Errorf("select all ticked %d rows", n)
		}
		b.click("#remove")
		if got := b.text(".confirm"); !strings.Contains(got, "Remove every entry") {
			t.Errorf("confirmation: %q", got)
		}
		b.click("#confirm-yes")
		b.flash(true, "emptied")
		if got := w.listed("allow"); len(got) != 0 {
			t.Errorf("after remove all: %v", got)
		}
	})

	t.Run("deny", func(t *testing.T) {
		b.t = t
		b.open("/deny")
		b.fill("#address", "203.0.113.9")
		b.fill("#note", "seen in the logs")
		b.click("#add")
		b.flash(true, "added 203.0.113.9", "in force in the running daemon")
		if d := w.scan("203.0.113.9", "Yealink"); d.Reason != policy.ReasonDeny {
			t.Errorf("the deny entry is not in force: %v", d)
		}
		b.shot("4-deny")
	})

	t.Run("blocks", func(t *testing.T) {
		b.t = t
		b.open("/blocks")
		if got := b.text("h2 + table.blocks + h2 + table.blocks"); !strings.Contains(got, "198.51.100.66") || !strings.Contains(got, "<script>alert(2)</script>") {
			t.Errorf("temporary blocks: %q", got)
		}
		if n := b.count("td.ua *"); n != 0 {
			t.Errorf("a User-Agent became %d elements", n)
		}
		b.shot("5-blocks")
		b.open("/blocks?address=198.51.100.66&reason=user_agent")
		if n := b.count("input[name=sel]"); n != 1 {
			t.Errorf("the filter shows %d blocks, want 1", n)
		}
		b.tick(`input[name=sel][value="198.51.100.66"]`)
		b.click("#unblock")
		b.flash(true, "lifted the temporary block of 198.51.100.66")
		if d := w.scan("198.51.100.66", "Yealink"); d.Verdict != policy.Accept {
			t.Errorf("still blocked after the unblock: %v", d)
		}
		if out := w.cli("status"); !strings.Contains(out, "| Dynamic (temporary) |          1 |") {
			t.Errorf("the CLI does not see the unblock:\n%s", out)
		}
	})

	t.Run("settings", func(t *testing.T) {
		b.t = t
		b.open("/settings")
		b.fill(`input[name="sip.block_time"]`, "5m")
		b.click("form.settings button[type=submit]")
		b.flash(true, "saved sip.block_time", "in force in the running daemon")
		if out := w.cli("config", "show"); !strings.Contains(out, `block_time = "5m"`) {
			t.Errorf("config show does not have the page's value:\n%s", out)
		}
		// A bad value: the error beside its field, nothing written.
		before, _ := os.ReadFile(w.cfg)
		b.fill(`input[name="sip.block_threshold"]`, "99")
		if st := b.click("form.settings button[type=submit]"); st != http.StatusUnprocessableEntity {
			t.Errorf("bad value: status %d", st)
		}
		if got := b.text(`[id="field-sip.block_threshold"] .field-error`); !strings.Contains(got, "must be between 1 and 20, got 99") {
			t.Errorf("field error: %q", got)
		}
		if after, _ := os.ReadFile(w.cfg); string(after) != string(before) {
			t.Errorf("a refused value changed the file:\n%s", after)
		}
		b.do("scroll to the error", chromedp.ScrollIntoView(chromedp.CSS(`[id="field-sip.block_threshold"]`)))
		b.shot("2-settings")
	})

	t.Run("notifications", func(t *testing.T) {
		b.t = t
		b.open("/notifications")
		b.fill("#address", "noc@example.com")
		b.click("#recipient-add")
		b.flash(true, "noc@example.com", "in force in the running daemon")
		b.fill("#address", "ops@example.com")
		b.click("#recipient-add")
		if out := w.cli("config", "show"); !strings.Contains(out, `recipients = ["noc@example.com", "ops@example.com"]`) {
			t.Errorf("config show does not have the recipients:\n%s", out)
		}
		b.shot("6-notifications")
		b.tick(`input[name=sel][value="ops@example.com"]`)
		b.click("#recipient-remove")
		b.click("#confirm-yes")
		b.flash(true, "ops@example.com")
		if out := w.cli("config", "show"); !strings.Contains(out, `recipients = ["noc@example.com"]`) {
			t.Errorf("after remove:\n%s", out)
		}
		// No SMTP server is set: the test email fails and says why.
		b.click("#send-test")
		b.flash(false, "smtp.host")
	})

	t.Run("geoip", func(t *testing.T) {
		b.t = t
		b.open("/geoip")
		b.tick(`input[name=cc][value=FR]`)
		b.click("#save-countries")
		b.flash(true, "blocked_countries = [FR]")
		if out := w.cli("config", "show"); !strings.Contains(out, `blocked_countries = ["FR"]`) {
			t.Errorf("config show does not have the country:\n%s", out)
		}
		if got := b.text("#countries-form"); !strings.Contains(got, "France") {
			t.Errorf("countries are not shown by name")
		}
		b.shot("7-geoip")
	})

	// The basic forms work without JavaScript: "select all" is a form
	// field itself, and confirmations are pages.
	t.Run("without JavaScript", func(t *testing.T) {
		b.t = t
		if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
		b.open("/deny")
		b.do("type", chromedp.SendKeys(chromedp.CSS("#address"), "203.0.113.10"), chromedp.SendKeys(chromedp.CSS("#note"), "typed without js"))
		b.click("#add")
		b.flash(true, "added 203.0.113.10")
		b.tick("#select-all")
		if n := b.count("tbody input[name=sel]:checked"); n != 0 {
			t.Fatalf("scripts ran: select all ticked %d rows", n)
		}
		b.click("#remove")
		b.click("#confirm-yes")
		b.flash(true, "emptied")
		if got := w.listed("deny"); len(got) != 0 {
			t.Errorf("deny list after remove all without JavaScript: %v", got)
		}
	})

	t.Run("logout", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.click("form.logout button")
		b.open("/allow")
		if loc := b.location(); loc != "/login" {
			t.Errorf("after logout /allow shows %s", loc)
		}
	})

	// The real server refuses a rebound name like the handler does.
	req, _ := http.NewRequest("GET", w.url+"/login", nil)
	req.Host = "rebound.example" + w.url[strings.LastIndex(w.url, ":"):]
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}
