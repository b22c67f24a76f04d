package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/policy"
)

// testCA is a CA made for one test run, and a server certificate it
// signed for 127.0.0.1.
type testCA struct {
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sipprot test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{pool: pool, server: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}}
}

func (ca *testCA) client() *tls.Config { return &tls.Config{RootCAs: ca.pool} }

// received is one message the test server accepted.
type received struct {
	From    string
	To      []string
	Raw     []byte
	User    string // authenticated as
	TLS     bool
	Header  mail.Header
	Text    string
	HTML    string
	Subject string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on loopback.
type smtpServer struct {
	t        testing.TB
	addr     string
	tlsMode  string // conf.TLS*
	ca       *testCA
	user     string
	password string

	mu      sync.Mutex
	srv     *smtp.Server
	ln      net.Listener
	msgs    []received
	authN   int  // AUTH attempts
	refuse  bool // answer 451 to MAIL FROM
	stopped bool
}

// newSMTPServer starts a server; tlsMode "starttls" offers STARTTLS,
// "tls" speaks TLS from the start, "none" neither. With user set, it
// requires AUTH PLAIN with that user and password.
func newSMTPServer(t testing.TB, tlsMode string, ca *testCA, user, password string) *smtpServer {
	t.Helper()
	s := &smtpServer{t: t, addr: "127.0.0.1:0", tlsMode: tlsMode, ca: ca, user: user, password: password}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *smtpServer) start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	// Right after a stop the port may still be held for a moment.
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		base := &session{s: s, tls: isTLS}
		if s.user != "" {
			return &authSession{base}, nil
		}
		return base, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = s.tlsMode == conf.TLSNone
	srv.ErrorLog = nopLogger{}
	if s.ca != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.ca.server}}
	}
	if s.tlsMode == conf.TLSImplicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if s.tlsMode != conf.TLSStartTLS {
		// go-smtp offers STARTTLS whenever it has a TLSConfig.
		srv.TLSConfig = nil
	}
	s.mu.Lock()
	s.addr, s.srv, s.ln, s.stopped = ln.Addr().String(), srv, ln, false
	s.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the server: connections are refused until start.
func (s *smtpServer) stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.stopped = true
	s.mu.Unlock()
	if srv != nil {
		// Serve may not have registered the listener yet: close it here.
		ln.Close()
		srv.Close()
	}
}

func (s *smtpServer) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func (s *smtpServer) setRefuse(v bool) {
	s.mu.Lock()
	s.refuse = v
	s.mu.Unlock()
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) count() int { return len(s.messages()) }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type session struct {
	s    *smtpServer
	tls  bool
	user string
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	refuse := x.s.refuse
	x.s.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec := received{From: x.from, To: x.to, Raw: raw, User: x.user, TLS: x.tls}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("unparsable message: %w", err)
	}
	rec.Header = msg.Header
	rec.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	rec.Text, rec.HTML, err = bodyParts(msg)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, rec)
	x.s.mu.Unlock()
	return nil
}

// authSession adds AUTH PLAIN.
type authSession struct{ *session }

func (x *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		x.s.mu.Lock()
		x.s.authN++
		x.s.mu.Unlock()
		if user != x.s.user || pass != x.s.password {
			return smtp.ErrAuthFailed
		}
		x.user = user
		return nil
	}), nil
}

// bodyParts decodes the text and HTML parts of a message.
func bodyParts(msg *mail.Message) (text, html string, err error) {
	ct, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", "", err
	}
	decode := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(r)
		return strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if !strings.HasPrefix(ct, "multipart/") {
		return decode(msg.Header.Get("Content-Transfer-Encoding"), msg.Body), "", nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return text, html, nil
		}
		if err != nil {
			return "", "", err
		}
		body := decode(p.Header.Get("Content-Transfer-Encoding"), p)
		switch pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pct {
		case "text/plain":
			text = body
		case "text/html":
			html = body
		}
	}
}

// fakeClock is moved by Advance; At channels fire when it passes them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{t, ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.c <- c.now
		}
	}
	c.waiters = kept
}

// advanceBy moves the clock in steps, yielding to the notifier's
// goroutines after each. Its two loops each drop a timer's channel when
// they re-arm, so the clock cannot tell a wake-up taken from one nobody
// will read; the yield is what lets each step be seen. The assertions
// that follow wait on conditions, not on this.
func (c *fakeClock) advanceBy(total, step time.Duration) {
	for d := time.Duration(0); d < total; d += step {
		c.Advance(min(step, total-d))
		time.Sleep(2 * time.Millisecond)
	}
}

// never checks that cond stays false for a while (real time).
func never(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(150 * time.Millisecond)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("unexpected: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testConfig is the defaults with the server s and recipients.
func testConfig(s *smtpServer, recipients ...string) *Settings {
	c := SettingsOf(conf.Defaults())
	c.Notify.Recipients = recipients
	c.SMTP.Host = "127.0.0.1"
	c.SMTP.TLS = conf.TLSNone
	c.SMTP.Timeout = conf.Duration{Duration: 5 * time.Second}
	if s != nil {
		c.SMTP.Port = s.port()
		c.SMTP.TLS = s.tlsMode
	}
	return c
}

// t0 is a Tuesday morning in Paris, before the daily summary.
var (
	paris = mustLoc("Europe/Paris")
	t0    = time.Date(2026, 11, 24, 6, 0, 0, 0, paris)
)

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// blockEvent is the block of the ith source.
func blockEvent(i int, at time.Time) policy.Event {
	a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
	if i > 250 {
		a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
	}
	return policy.Event{Kind: policy.EventBlock, Addr: a, Reason: policy.ReasonUserAgent, At: at, Count: 1,
		Until: at.Add(10 * time.Minute), UserAgent: "friendly-scanner", Country: "FR"}
}

// runner runs a notifier and stops it at the end of the test.
type runner struct {
	n      *Notifier
	cancel context.CancelFunc
	done   chan struct{}
}

func startNotifier(t testing.TB, cfg *Settings, dir string, clock Clock, ca *testCA, report func(time.Time) (attacks.Report, error), log *slog.Logger, more ...Option) *runner {
	t.Helper()
	opts := append([]Option{WithClock(clock), WithLocation(paris), WithHostname("pbx1.test")}, more...)
	if ca != nil {
		opts = append(opts, WithTLSConfig(ca.client()))
	}
	n := New(cfg, dir, report, log, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{n: n, cancel: cancel, done: make(chan struct{})}
	go func() {
		n.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() {
	r.cancel()
	<-r.done
}

// testLog collects log lines.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *testLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func writePassword(t testing.TB, pw string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
