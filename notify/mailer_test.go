package notify

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
)

func TestSendTest(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name     string
		tlsMode  string
		auth     bool
		wantTLS  bool
		wantUser string
	}{
		{"plain", conf.TLSNone, false, false, ""},
		{"starttls", conf.TLSStartTLS, false, true, ""},
		{"implicit tls", conf.TLSImplicit, false, true, ""},
		{"starttls and auth", conf.TLSStartTLS, true, true, "alerts"},
		{"implicit tls and auth", conf.TLSImplicit, true, true, "alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pw := "", ""
			if tt.auth {
				user, pw = "alerts", "s3cret pass"
			}
			srv := newSMTPServer(t, tt.tlsMode, ca, user, pw)
			cfg := testConfig(srv, "ops@example.com", "Night Shift <night@example.com>")
			if tt.auth {
				cfg.SMTP.Username = user
				cfg.SMTP.PasswordFile = writePassword(t, pw)
			}
			reply, err := SendTest(context.Background(), cfg, nil, WithTLSConfig(ca.client()), WithHostname("pbx1.test"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(reply, "250 ") || len(reply) < 6 {
				t.Errorf("reply %q, want the server's 250 answer", reply)
			}
			msgs := srv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.TLS != tt.wantTLS || m.User != tt.wantUser {
				t.Errorf("TLS %v user %q, want %v %q", m.TLS, m.User, tt.wantTLS, tt.wantUser)
			}
			if m.From != "sipprot@pbx1.test" || strings.Join(m.To, ",") != "ops@example.com,night@example.com" {
				t.Errorf("envelope from %q to %q", m.From, m.To)
			}
			if m.Subject != "sipprot: test email from pbx1.test" {
				t.Errorf("subject %q", m.Subject)
			}
			if !strings.Contains(m.Text, "sent through 127.0.0.1:") {
				t.Errorf("text %q", m.Text)
			}
			if m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
				t.Errorf("headers %v", m.Header)
			}
		})
	}
}

func TestSendTestFails(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name    string
		tlsMode string
		setup   func(c *Settings, srv *smtpServer) []Option
		want    string
		wantIs  error
	}{
		{"no host", conf.TLSNone, func(c *Settings, _ *smtpServer) []Option { c.SMTP.Host = ""; return nil },
			"smtp.host is empty", ErrNoSMTPHost},
		{"no recipients", conf.TLSNone, func(c *Settings, _ *smtpServer) []Option { c.Notify.Recipients = nil; return nil },
			"no recipients", ErrNoRecipients},
		{"untrusted certificate", conf.TLSStartTLS, func(*Settings, *smtpServer) []Option { return nil },
			"certificate signed by unknown authority", nil},
		{"starttls not offered", conf.TLSNone, func(c *Settings, _ *smtpServer) []Option { c.SMTP.TLS = conf.TLSStartTLS; return nil },
			"does not support STARTTLS", nil},
		{"wrong password", conf.TLSStartTLS, func(c *Settings, _ *smtpServer) []Option {
			c.SMTP.Username, c.SMTP.PasswordFile = "alerts", writePassword(t, "guess")
			return []Option{WithTLSConfig(ca.client())}
		}, "535", nil},
		{"password file missing", conf.TLSStartTLS, func(c *Settings, _ *smtpServer) []Option {
			c.SMTP.Username, c.SMTP.PasswordFile = "alerts", "/nonexistent/pw"
			return []Option{WithTLSConfig(ca.client())}
		}, "smtp.password_file: open /nonexistent/pw", nil},
		{"no password file", conf.TLSStartTLS, func(c *Settings, _ *smtpServer) []Option {
			c.SMTP.Username = "alerts"
			return []Option{WithTLSConfig(ca.client())}
		}, "smtp.username is set but smtp.password_file is empty", nil},
		{"refused", conf.TLSNone, func(_ *Settings, s *smtpServer) []Option { s.setRefuse(true); return nil },
			"451 \"4.3.0 try again later\"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSMTPServer(t, tt.tlsMode, ca, "alerts", "right one")
			cfg := testConfig(srv, "ops@example.com")
			opts := tt.setup(cfg, srv)
			_, err := SendTest(context.Background(), cfg, nil, opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "guess") || strings.Contains(err.Error(), "right one") {
				t.Errorf("error shows a password: %v", err)
			}
			if n := srv.count(); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
		})
	}
}

// Without TLS the password never crosses in clear: a server that offers
// only PLAIN gets no AUTH at all.
func TestNoCleartextPassword(t *testing.T) {
	srv := newSMTPServer(t, conf.TLSNone, nil, "alerts", "s3cret")
	cfg := testConfig(srv, "ops@example.com")
	cfg.SMTP.Username, cfg.SMTP.PasswordFile = "alerts", writePassword(t, "s3cret")
	_, err := SendTest(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("sent with a cleartext password")
	}
	srv.mu.Lock()
	n := srv.authN
	srv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d AUTH exchanges over a cleartext connection", n)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
}

// A server that accepts and never answers costs smtp.timeout, no more.
func TestSendTimeout(t *testing.T) {
	ln := hungListener(t)
	cfg := testConfig(nil, "ops@example.com")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg.SMTP.Port = atoi(port)
	cfg.SMTP.Timeout = conf.Duration{Duration: 200 * time.Millisecond}
	// The server never answers: without the timeout this would not return.
	_, err := SendTest(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("no error from a hung server")
	}
	if !strings.Contains(err.Error(), "smtp.timeout") {
		t.Errorf("error %v does not name smtp.timeout", err)
	}
}

// hungListener accepts connections and never says a word.
func hungListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
