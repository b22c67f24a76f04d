package daemon

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/sipprot/sipprot/internal/testutil"
)

// mailbox is a receiving SMTP server on loopback that keeps raw messages.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

type mailSession struct{ m *mailbox }

func (mailSession) Reset()                               {}
func (mailSession) Logout() error                        { return nil }
func (mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, string(b))
	s.m.mu.Unlock()
	return err
}

func startMailbox(t *testing.T) (*mailbox, string) {
	m := &mailbox{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return mailSession{m}, nil }))
	srv.Domain = "mx.test"
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m, ln.Addr().String()
}

// A block made by the engine reaches the operator's mailbox: the daemon
// feeds its notifier from the event consumer.
func TestBlockSendsAnAlert(t *testing.T) {
	m, addr := startMailbox(t)
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	h := start(t, dir, baseConfig+`[notify]
recipients = ["ops@example.com"]
[smtp]
host = "`+host+`"
port = `+port+`
tls = "none"
from = "sipprot@pbx.test"
`)
	defer h.stop()
	h.send("198.51.100.66", "friendly-scanner")
	var msg string
	testutil.WaitFor(t, 10*time.Second, "the alert", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(m.msgs) > 0 {
			msg = m.msgs[0]
		}
		return msg != ""
	})
	if !strings.Contains(msg, "198.51.100.66") || !strings.Contains(msg, "friendly-scanner") || !strings.Contains(msg, "sipprot unblock 198.51.100.66") {
		t.Fatalf("alert lacks the block:\n%s", msg)
	}
}
