package cli

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sipprot/sipprot/conf"
)

// notifyGolden compares the transcript, $DIR for the temporary directory
// and $PORT for the test SMTP server's port, to testdata/notify/NAME.golden
// (rewritten with -update).
func notifyGolden(f *listFixture, name, port string) {
	f.t.Helper()
	if port != "" {
		f.filter = func(s string) string { return strings.ReplaceAll(s, port, "$PORT") }
	}
	f.goldenIn("notify", name)
}

const notifyConf = `# Our PBX.
[notify]
# Who gets the email.
recipients = [
  "Night Shift <night@example.com>", # rota
]
daily_at = "06:30"
`

func TestNotifyRecipientsGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("sipprot.conf", notifyConf)
	f.run("notify", "list")
	f.run("notify", "add", "ops@example.com")
	f.run("notify", "add", "OPS@Example.com")
	f.run("notify", "add", "Security Team <soc@example.com>")
	f.run("notify", "add", "night@example.com")
	f.run("notify", "add", "not an address")
	f.run("notify", "add", "ops@example.com\r\nBcc: x@example.org")
	f.run("notify", "add")
	f.run("notify", "list")
	f.run("notify", "list", "--json")
	f.cat("sipprot.conf")
	f.run("notify", "remove", "ops@example.com")
	f.run("notify", "remove", "ops@example.com", "nobody@example.com", "--yes")
	f.run("notify", "remove", "bad@", "--yes")
	f.run("notify", "remove", "ops@example.com", "Night Shift <NIGHT@example.com>", "--yes")
	f.cat("sipprot.conf")
	f.run("notify", "remove", "soc@example.com", "--yes")
	f.run("notify", "list")
	f.cat("sipprot.conf")
	notifyGolden(f, "recipients", "")
	c, err := conf.Load(f.path("sipprot.conf"), true)
	if err != nil {
		t.Errorf("edited config does not load: %v", err)
	} else if len(c.Notify.Recipients) != 0 {
		t.Errorf("recipients %q after removing them all", c.Notify.Recipients)
	}
}

// On a terminal, remove asks first.
func TestNotifyRemoveAsks(t *testing.T) {
	f := newListFixture(t)
	f.deps.StdinIsTerminal = func(io.Reader) bool { return true }
	f.write("sipprot.conf", notifyConf)
	f.stdin = "n\n"
	f.run("notify", "remove", "night@example.com")
	if got := f.read("sipprot.conf"); got != notifyConf {
		t.Errorf("a refused remove changed the config:\n%s", got)
	}
	f.stdin = "y\n"
	f.run("notify", "remove", "night@example.com")
	f.run("notify", "list")
	notifyGolden(f, "remove_terminal", "")
}

// testSMTP is a plain SMTP server on loopback that accepts everything.
type testSMTP struct {
	mu   sync.Mutex
	rcpt []string
	data []string
}

func (s *testSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &testSession{s: s}, nil }

type testSession struct{ s *testSMTP }

func (x *testSession) Reset()                               {}
func (x *testSession) Logout() error                        { return nil }
func (x *testSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	x.s.rcpt = append(x.s.rcpt, to)
	x.s.mu.Unlock()
	return nil
}

func (x *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	x.s.data = append(x.s.data, string(b))
	x.s.mu.Unlock()
	return err
}

func TestNotifyTest(t *testing.T) {
	backend := &testSMTP{}
	srv := smtp.NewServer(backend)
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	f := newListFixture(t)
	smtpConf := "\n[smtp]\nhost = \"127.0.0.1\"\nport = " + port + "\ntimeout = \"5s\"\n"
	f.write("sipprot.conf", notifyConf+smtpConf+"tls = \"none\"\n")
	f.run("notify", "test")
	f.run("notify", "test", "ops@example.com", "Security Team <soc@example.com>")
	f.run("notify", "test", "oops")
	f.write("sipprot.conf", notifyConf)
	f.run("notify", "test")
	f.write("sipprot.conf", smtpConf+"tls = \"none\"\n")
	f.run("notify", "test")
	f.write("sipprot.conf", smtpConf) // starttls, which this server does not offer
	f.run("notify", "test", "ops@example.com")
	notifyGolden(f, "test", port)

	backend.mu.Lock()
	defer backend.mu.Unlock()
	if got := strings.Join(backend.rcpt, ","); got != "night@example.com,ops@example.com,soc@example.com" {
		t.Errorf("recipients %s", got)
	}
	if len(backend.data) != 2 || !strings.Contains(backend.data[0], "Subject: sipprot: test email from ") {
		t.Errorf("messages %q", backend.data)
	}
}
