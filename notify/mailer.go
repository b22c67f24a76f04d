package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/sipprot/sipprot/conf"
)

// Sentinel errors for settings that make sending impossible.
var (
	// ErrNoSMTPHost: smtp.host is empty, so no email is sent.
	ErrNoSMTPHost = errors.New("no SMTP server: smtp.host is empty")
	// ErrNoRecipients: notify.recipients is empty.
	ErrNoRecipients = errors.New("no recipients: add one with sipprot notify add ADDR")
)

// Mail is one rendered email. The notifier keeps it in the outbox, on
// disk, until the server accepts it; its ID stays the same across
// retries and restarts and makes its Message-ID, so a receiving system
// could drop a duplicate.
type Mail struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // kindAlert, kindDaily or kindTest
	Seq     uint64    `json:"seq"`
	Day     string    `json:"day,omitempty"` // daily summary: the day covered
	To      []string  `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	Created time.Time `json:"created"`

	// Delivery bookkeeping.
	Attempts  int       `json:"attempts"`
	NextTry   time.Time `json:"next_try"`
	LastError string    `json:"last_error,omitempty"`
}

// Mail kinds.
const (
	kindAlert = "alert"
	kindDaily = "daily"
	kindTest  = "test"
)

// Mailer sends mail through the [smtp] settings. Each Send is one SMTP
// session, so a settings change applies to the next mail.
type Mailer struct {
	smtp     conf.SMTP
	tls      *tls.Config
	hostname string
}

// NewMailer returns a mailer for the settings s. tlsConfig, if not nil, is
// the base of the TLS settings (a private CA's RootCAs); hostname names
// this host in HELO and in the default sender, sipprot@hostname.
func NewMailer(s conf.SMTP, tlsConfig *tls.Config, hostname string) *Mailer {
	return &Mailer{smtp: s, tls: tlsConfig, hostname: hostname}
}

// From returns the sender address: smtp.from, or sipprot@ this host.
func (ml *Mailer) From() string {
	if ml.smtp.From != "" {
		return ml.smtp.From
	}
	return "sipprot@" + ml.hostname
}

// Send delivers m in one SMTP session bounded by smtp.timeout and returns
// the server's final answer to the message, "250 2.0.0 Ok: queued as …".
// Headers are set only through go-mail, which encodes any control
// character, and attacker text is only ever in the bodies.
func (ml *Mailer) Send(ctx context.Context, m *Mail) (string, error) {
	s := ml.smtp
	if s.Host == "" {
		return "", ErrNoSMTPHost
	}
	msg := mail.NewMsg()
	if err := msg.From(ml.From()); err != nil {
		return "", fmt.Errorf("sender %q: %w", ml.From(), err)
	}
	if err := msg.To(m.To...); err != nil {
		return "", fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(m.Created)
	msg.SetMessageIDWithValue(fmt.Sprintf("%s.%d@%s", m.ID, m.Created.UnixNano(), ml.hostname))
	msg.SetUserAgent("sipprot")
	msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}

	timeout := s.Timeout.Duration
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := ml.client(ctx, timeout)
	if err != nil {
		return "", fmt.Errorf("smtp %s: %w", s.Addr(), err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// Accepted: a failure after that (RSET, QUIT) must not make the
		// mail go out twice.
		return "250 " + msg.ServerResponse(), nil
	}
	if err == nil {
		err = errors.New("the server did not confirm the message")
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("%w (session over smtp.timeout %s)", err, timeout)
	}
	return "", fmt.Errorf("smtp %s: %w", s.Addr(), err)
}

// client builds a go-mail client for one session. Its connections are
// closed when ctx ends, so neither a hung server nor shutdown waits
// longer than that.
func (ml *Mailer) client(ctx context.Context, timeout time.Duration) (*mail.Client, error) {
	s := ml.smtp
	tlsConfig := &tls.Config{}
	if ml.tls != nil {
		tlsConfig = ml.tls.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = s.Host
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)

	implicit := s.TLS == conf.TLSImplicit
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { raw.Close() })
		if !implicit {
			return raw, nil
		}
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		return tc, nil
	}
	opts := []mail.Option{
		mail.WithPort(smtpPort(s)),
		mail.WithTimeout(timeout),
		mail.WithDialContextFunc(dial),
		mail.WithTLSConfig(tlsConfig),
	}
	if ml.hostname != "" {
		opts = append(opts, mail.WithHELO(ml.hostname))
	}
	switch s.TLS {
	case conf.TLSImplicit:
		opts = append(opts, mail.WithSSL()) // the dial did the TLS: no STARTTLS
	case conf.TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.Username != "" {
		pw, err := readPassword(s.PasswordFile)
		if err != nil {
			return nil, err
		}
		// Without TLS, only challenge-response mechanisms: the password
		// itself never crosses the network in clear.
		mechs := []mail.SMTPAuthType{mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthCramMD5}
		if s.TLS != conf.TLSNone {
			mechs = append(mechs, mail.SMTPAuthPlain, mail.SMTPAuthLogin)
		}
		opts = append(opts, mail.WithUsername(s.Username), mail.WithPassword(pw), mail.WithOpportunisticSMTPAuth(mechs...))
	}
	return mail.NewClient(s.Host, opts...)
}

// smtpPort is smtp.port, where 0 means the usual port of the TLS mode.
func smtpPort(s conf.SMTP) int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLS == conf.TLSImplicit:
		return 465
	}
	return 587
}

// readPassword reads the SMTP password at send time, so a changed file
// applies without a reload and the password is never in the config. The
// error names the file, never its content.
func readPassword(path string) (string, error) {
	if path == "" {
		return "", errors.New("smtp.username is set but smtp.password_file is empty")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("smtp.password_file: %w", err)
	}
	// Editors add a final newline; surrounding blanks are never meant.
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("smtp.password_file %s is empty", path)
	}
	return pw, nil
}
