package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultPollEvery      = time.Second
	DefaultResyncEvery    = 10 * time.Minute
	DefaultMaxDecisions   = 1_000_000
	DefaultTimeout        = 5 * time.Second
	DefaultStartupTimeout = 2 * time.Minute
	DefaultOutboxMax      = 10_000
)

// DefaultOrigins are the origins pulled when Config.Origins is empty:
// other sipprot hosts, the local CrowdSec agents and manual cscli
// decisions. "CAPI" and "lists" (the community blocklists) are opt-in:
// they hold tens of thousands of addresses that were never seen here.
var DefaultOrigins = []string{OriginPrefix, "crowdsec", "cscli", "cscli-import"}

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("fleet config")

// Secret is a credential. It prints, logs and marshals as "[redacted]" so
// a Config can be logged whole without leaking it.
type Secret string

const redacted = "[redacted]"

// String hides the secret.
func (Secret) String() string { return redacted }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return redacted }

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText hides the secret from encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Config is what a Client needs. Push is on when MachineID is set, pull
// when APIKey is set; at least one must be.
type Config struct {
	// LAPIURL is the Local API base, e.g. "http://127.0.0.1:8080".
	LAPIURL string
	// MachineID and Password are the machine credentials (cscli machines
	// add); the caller reads the password from its file.
	MachineID string
	Password  Secret
	// APIKey is the bouncer key (cscli bouncers add).
	APIKey Secret
	// PollEvery is the delay between two decision stream pulls.
	PollEvery time.Duration
	// ResyncEvery spaces full pulls (startup=true) between the deltas.
	// CrowdSec 1.4's deltas can miss a decision written while a pull is
	// answered (seen under a bulk import: a few hundred of 100,000 never
	// came); the full pull brings in what a delta missed.
	ResyncEvery time.Duration
	// Origins lists the decision origins kept; an entry also matches the
	// origins below it ("sipprot" matches "sipprot/pbx2").
	Origins []string
	// MaxDecisions bounds the pulled set; decisions past it are refused.
	MaxDecisions int
	// Timeout bounds every HTTP call but the startup stream.
	Timeout time.Duration
	// StartupTimeout bounds the full-set pull, which can be large.
	StartupTimeout time.Duration
	// OutboxDir holds the pushes not yet accepted by the LAPI. Required
	// for push.
	OutboxDir string
	// OutboxMax bounds the outbox; pushes past it are refused, counted.
	OutboxMax int
	// Log receives the client's log lines; nil discards them.
	Log *slog.Logger
}

// Validate checks the fields after defaults, naming the first bad one.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, why string) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, why)
	}
	u, err := url.Parse(c.LAPIURL)
	switch {
	case c.LAPIURL == "":
		return bad("LAPIURL", "empty")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("LAPIURL", "not an http(s) URL")
	case u.User != nil:
		return bad("LAPIURL", "credentials belong in MachineID/Password or APIKey, not the URL")
	}
	if c.MachineID == "" && c.APIKey == "" {
		return bad("MachineID", "neither MachineID (push) nor APIKey (pull) is set")
	}
	if c.MachineID != "" {
		if c.Password == "" {
			return bad("Password", "empty for machine "+c.MachineID)
		}
		if strings.ContainsAny(c.MachineID, "/,") {
			return bad("MachineID", "contains '/' or ','")
		}
		if c.OutboxDir == "" {
			return bad("OutboxDir", "empty (push needs an outbox)")
		}
	}
	switch {
	case c.PollEvery < 100*time.Millisecond:
		return bad("PollEvery", "below 100ms")
	case c.ResyncEvery < c.PollEvery:
		return bad("ResyncEvery", "below PollEvery")
	case c.MaxDecisions < 1:
		return bad("MaxDecisions", "below 1")
	case c.Timeout <= 0:
		return bad("Timeout", "not positive")
	case c.StartupTimeout < c.Timeout:
		return bad("StartupTimeout", "below Timeout")
	case c.OutboxMax < 1:
		return bad("OutboxMax", "below 1")
	}
	for _, o := range c.Origins {
		if o == "" || strings.ContainsAny(o, ", ") {
			return bad("Origins", fmt.Sprintf("%q is not an origin", o))
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.PollEvery == 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.ResyncEvery == 0 {
		c.ResyncEvery = max(DefaultResyncEvery, c.PollEvery)
	}
	if len(c.Origins) == 0 {
		c.Origins = DefaultOrigins
	}
	if c.MaxDecisions == 0 {
		c.MaxDecisions = DefaultMaxDecisions
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = max(DefaultStartupTimeout, c.Timeout)
	}
	if c.OutboxMax == 0 {
		c.OutboxMax = DefaultOutboxMax
	}
	c.LAPIURL = strings.TrimRight(c.LAPIURL, "/")
	return c
}

// originAllowed reports whether origin is one of origins, or below one.
func originAllowed(origins []string, origin string) bool {
	for _, o := range origins {
		if origin == o || (strings.HasPrefix(origin, o) && origin[len(o)] == '/') {
			return true
		}
	}
	return false
}
