//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// webIP is the scanner of the web page scenario, in the guesser namespace.
var webIP = netip.MustParseAddr("198.51.100.88")

// pageAddr is where `sipprot run` serves its web page by default, inside
// its own namespace.
const pageAddr = "127.0.0.1:8465"

// testWebUnblock: a scanner whose User-Agent carries markup is blocked at
// its first packet; an operator logs in to the daemon's web page in a
// real headless Chromium, sees the block with the User-Agent as text,
// and lifts it with "Unblock selected": the source's next OPTIONS reaches
// Kamailio within a second of the click.
func testWebUnblock(t *testing.T, s *setup) {
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium binary found (apt-get install chromium, or set SIPPROT_CHROMIUM): this scenario needs a real browser")
	}
	w := s.w
	start := time.Now()
	const xssUA = "friendly-scanner <script>alert(1)</script>"
	scanner := newSIPClient(t, w.guess, webIP, xssUA)
	if code := scanner.options(500 * time.Millisecond); code != 0 {
		t.Fatalf("the scanner's first OPTIONS was answered (%d)", code)
	}
	blk, ok := s.d.waitBlock(t, webIP, 5*time.Second)
	if !ok || blk.Reason != "user_agent" || blk.UA != xssUA {
		t.Fatalf("scanner %s: block %+v, %v", webIP, blk, ok)
	}
	if n := len(w.kam.traffic(t).from(webIP).reqs); n != 0 {
		t.Fatalf("Kamailio saw %d requests from the scanner %s", n, webIP)
	}
	// block_time is 3 s: the scanner goes on (each of its packets
	// restarts the block) until just before the click, so that only the
	// page can have lifted the block when traffic passes again.
	keep := startPinger(t, scanner, 700*time.Millisecond)

	token := strings.TrimSpace(cli(t, s.ns, s.cfgPath, "admin", "token"))
	fwd := forwardTCP(t, s.ns, pageAddr)
	b := newWebBrowser(t, chromium, "http://"+fwd)
	t.Logf("web page of %s (%s there) at http://%s/, screenshots in %s", s.ns, pageAddr, fwd, b.shots)

	began := time.Now()
	b.open("/")
	if loc := b.location(); loc != "/login" {
		t.Fatalf("without a session / shows %s, want /login", loc)
	}
	b.shot("0-login")
	b.do("fill the secret", chromedp.SetValue(chromedp.CSS("#token"), token))
	if st := b.click("form.login button"); st != http.StatusOK || b.location() != "/" {
		t.Fatalf("login: status %d, at %s", st, b.location())
	}
	loggedIn := time.Since(began)

	b.open("/blocks")
	box := fmt.Sprintf(`input[name=sel][value=%q]`, webIP.String())
	row, err := chromedp.Run(b.ctx, chromedp.Evaluate[struct {
		UA    string `json:"ua"`
		Elems int    `json:"elems"`
	}](fmt.Sprintf(`(() => { const td = document.querySelector(%q)?.closest("tr")?.querySelector("td.ua");
		return td ? {ua: td.textContent, elems: td.querySelectorAll("*").length} : null })()`, box)))
	if err != nil {
		b.shot("1-blocks-before")
		t.Fatalf("no row for %s on the Dynamic blocks page: %v", webIP, err)
	}
	if row.UA != xssUA || row.Elems != 0 {
		t.Errorf("the row of %s shows the User-Agent as %q with %d elements; want the text %q", webIP, row.UA, row.Elems, xssUA)
	}
	b.shot("1-blocks-before")
	b.do("tick "+webIP.String(), chromedp.Click(chromedp.CSS(box)))

	keep.halt()
	scanner.mu.Lock()
	lastAttack := scanner.all[len(scanner.all)-1].sent
	scanner.mu.Unlock()
	phone := newSIPClient(t, w.guess, webIP, ordinaryUA)
	probe := startPinger(t, phone, 20*time.Millisecond)
	clicked := time.Now()
	st := b.click("#unblock")
	pageBack := time.Since(clicked)
	var first *ping
	var firstCallID string
	testutil.Poll(2*time.Second, func() bool {
		phone.mu.Lock()
		defer phone.mu.Unlock()
		for id, p := range phone.sent {
			if !p.answered.IsZero() && (first == nil || p.answered.Before(first.answered)) {
				first, firstCallID = p, id
			}
		}
		return first != nil
	})
	probe.halt()
	flash := b.text("#flash")
	if st != http.StatusOK || b.count("#flash.ok") != 1 || !strings.Contains(flash, "lifted the temporary block of "+webIP.String()) {
		t.Errorf("after Unblock selected: status %d, result %q", st, flash)
	}
	if n := b.count(box); n != 0 {
		t.Errorf("the page still lists %s after the unblock", webIP)
	}
	b.shot("2-blocks-after")
	if first == nil {
		t.Fatalf("%s still gets no answer 2 s after the click on Unblock selected; daemon log:\n%s", webIP, tail(s.d.log, 10))
	}
	took := first.answered.Sub(clicked)
	t.Logf("web unblock: logged in %v after the browser started; the click on Unblock selected got its result page in %v; %s's first OPTIONS was answered %v after the click (%v after the scanner's last packet, block_time %v)",
		loggedIn.Round(time.Millisecond), pageBack.Round(time.Millisecond), webIP, took.Round(time.Millisecond),
		first.answered.Sub(lastAttack).Round(time.Millisecond), s.cfg.blockTime)
	if took > time.Second {
		t.Errorf("traffic passed %v after the click; want within 1 s", took)
	}
	if first.answered.Sub(lastAttack) >= s.cfg.blockTime {
		t.Errorf("the first answer came %v after the scanner's last packet: the block may have ended by itself", first.answered.Sub(lastAttack))
	}

	var tr traffic
	testutil.Poll(2*time.Second, func() bool { tr = w.kam.traffic(t).from(webIP).since(start); return len(tr.reqs) > 0 })
	if len(tr.reqs) == 0 {
		t.Fatalf("Kamailio logged no request from %s", webIP)
	}
	if r := tr.reqs[0]; r.At.Before(clicked) || r.CallID != firstCallID || r.UA != ordinaryUA {
		t.Errorf("Kamailio's first request from %s: %+v; want the answered OPTIONS %s (User-Agent %q) after the click at %s",
			webIP, r, firstCallID, ordinaryUA, clicked.Format(time.RFC3339Nano))
	}
	if bs := s.d.blocksOf(t, webIP); len(bs) != 1 || bs[0].At.After(clicked) {
		t.Errorf("block lines of %s: %+v; want the first one only", webIP, bs)
	}
	if got, ok := dynamicList(t, s, s.cfgPath)[webIP]; ok {
		t.Errorf("status still lists %s after the unblock: %+v", webIP, got)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) != 0 {
		t.Errorf("JavaScript dialogs opened: %q", b.dialogs)
	}
}

// chromiumPath finds the browser: $SIPPROT_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("SIPPROT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// forwardTCP listens on a free port of 127.0.0.1 in the root namespace
// and relays each connection to target, dialled from inside ns: the
// browser in the root namespace reaches a page on the namespace's
// loopback, and no firewall changes. It returns the listen address; it
// stops, with its connections, when the test ends.
func forwardTCP(t *testing.T, ns netnstest.NS, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
		wg     sync.WaitGroup
	)
	// track keeps c to be closed at the end (at once if that has come).
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
		}
		conns[c] = true
	}
	relay := func(c net.Conn) {
		defer wg.Done()
		defer c.Close()
		track(c)
		var up net.Conn
		if err := ns.Do(func() (err error) {
			up, err = net.DialTimeout("tcp", target, 2*time.Second)
			return err
		}); err != nil {
			t.Errorf("forwarder: dial %s in %s: %v", target, ns, err)
			return
		}
		defer up.Close()
		track(up)
		done := make(chan struct{})
		go func() { io.Copy(up, c); up.Close(); close(done) }()
		io.Copy(c, up)
		c.Close()
		<-done
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go relay(c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// webBrowser is one headless Chromium tab on the web page.
type webBrowser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	mu      sync.Mutex
	dialogs []string // messages of the JavaScript dialogs that opened
}

// newWebBrowser starts Chromium (ended when the test ends); any
// JavaScript dialog fails the test: it would be a script we did not
// write, an injection.
func newWebBrowser(t *testing.T, path, base string) *webBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // we are root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("no-proxy-server", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &webBrowser{t: t, ctx: ctx, base: base, shots: logDir(t)}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		for ev, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

func (b *webBrowser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *webBrowser) open(path string) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	if err == nil && resp.Status != http.StatusOK {
		err = fmt.Errorf("status %d", resp.Status)
	}
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
}

// click clicks what submits a form and returns the next page's status.
func (b *webBrowser) click(sel string) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status
}

func (b *webBrowser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *webBrowser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *webBrowser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

// shot saves a full-page screenshot as NAME.png in the test's log
// directory.
func (b *webBrowser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}
