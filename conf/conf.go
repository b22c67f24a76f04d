// Package conf decodes sipprot's TOML config, applies the built-in defaults
// and validates the result, all in one Load. A config that Load returns is
// complete and valid; a rejected one yields errors that name the file, the
// line and the key.
package conf

import (
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"strconv"
)

// defaultsTOML is both the text `sipprot config defaults` prints and the base
// every Load decodes first, so the documentation cannot drift from the values.
//
//go:embed defaults.toml
var defaultsTOML []byte

// DefaultsSource is what Config.Source reports for the embedded defaults.
const DefaultsSource = "defaults"

// Config is the whole sipprot configuration, one field per TOML section.
type Config struct {
	SIP     SIP     `toml:"sip"`
	GeoIP   GeoIP   `toml:"geoip"`
	TFTP    TFTP    `toml:"tftp"`
	DNS     DNS     `toml:"dns"`
	Queue   Queue   `toml:"queue"`
	Lists   Lists   `toml:"lists"`
	State   State   `toml:"state"`
	Notify  Notify  `toml:"notify"`
	SMTP    SMTP    `toml:"smtp"`
	Admin   Admin   `toml:"admin"`
	Metrics Metrics `toml:"metrics"`
	Fleet   Fleet   `toml:"fleet"`
	Log     Log     `toml:"log"`

	source string
}

// SIP is the [sip] section: what to inspect and when to block.
type SIP struct {
	Protocols         []Protocol  `toml:"protocols"`
	Ports             []PortRange `toml:"ports"`
	FailuresPerMinute int         `toml:"failures_per_minute"`
	BlockTime         Duration    `toml:"block_time"`
	BlockThreshold    int         `toml:"block_threshold"`
	BlockedUserAgents []string    `toml:"blocked_user_agents"`
	BlockedCountries  []Country   `toml:"blocked_countries"`
	RequestsPerSecond int         `toml:"requests_per_second"`
	DropMalformed     bool        `toml:"drop_malformed"`
	BindNonces        bool        `toml:"bind_nonces"`
	UnboundNonce      string      `toml:"unbound_nonce"`
}

// What to do with a request whose credentials answer no challenge the PBX
// sent to its source ([sip] unbound_nonce).
const (
	// UnboundFailure: its failure counts like a scan's, against an
	// unproven source only.
	UnboundFailure = "failure"
	UnboundCount   = "count" // count it, let the PBX answer it, never a failure
	UnboundDrop    = "drop"  // drop it (never a block: the source may be forged)
)

// GeoIP is the [geoip] section: the country database and its updates.
type GeoIP struct {
	Database       string   `toml:"database"`
	UpdateURL      string   `toml:"update_url"`
	UpdateEvery    Duration `toml:"update_every"`
	AccountID      string   `toml:"account_id"`
	LicenseKeyFile string   `toml:"license_key_file"`
}

// TFTP is the [tftp] section: the per-source TFTP rate limit.
type TFTP struct {
	Enabled   bool `toml:"enabled"`
	PerMinute int  `toml:"per_minute"`
	Burst     int  `toml:"burst"`
}

// DNS is the [dns] section: the CVE-2015-7547 guard.
type DNS struct {
	Enabled bool `toml:"enabled"`
}

// Queue modes: where the protected PBX lives relative to this host.
const (
	ModeLocal   = "local"   // PBX on this host: INPUT and OUTPUT chains
	ModeForward = "forward" // PBXes behind this host: FORWARD chain
)

// Queue is the [queue] section: the NFQUEUE numbers and the kernel guard.
type Queue struct {
	Number      int      `toml:"number"`
	Count       int      `toml:"count"`
	FailOpen    bool     `toml:"fail_open"`
	Mode        string   `toml:"mode"`
	GuardPPS    int      `toml:"guard_pps"`
	GuardExempt []Prefix `toml:"guard_exempt"`
}

// Lists is the [lists] section: the allow and deny list files.
type Lists struct {
	Allow string `toml:"allow"`
	Deny  string `toml:"deny"`
}

// State is the [state] section: where dynamic blocks and the attack log live.
type State struct {
	Dir           string `toml:"dir"`
	RetentionDays int    `toml:"retention_days"`
}

// Notify is the [notify] section: who gets email, and when.
type Notify struct {
	Recipients        []string  `toml:"recipients"`
	DailySummary      bool      `toml:"daily_summary"`
	DailyAt           TimeOfDay `toml:"daily_at"`
	DailySummaryQuiet bool      `toml:"daily_summary_quiet"`
	PerAttack         bool      `toml:"per_attack"`
	PerAttackEvery    Duration  `toml:"per_attack_every"`
}

// SMTP TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS)
	TLSNone     = "none"     // no encryption
)

// SMTP is the [smtp] section: the mail server notifications go through.
type SMTP struct {
	Host         string   `toml:"host"`
	Port         int      `toml:"port"`
	Username     string   `toml:"username"`
	PasswordFile string   `toml:"password_file"`
	From         string   `toml:"from"`
	Timeout      Duration `toml:"timeout"`
	TLS          string   `toml:"tls"`
}

// Addr returns host:port of the SMTP server; port 0 means the usual port for
// the TLS mode, so users need not know that SMTPS is 465.
func (s SMTP) Addr() string {
	port := s.Port
	if port == 0 {
		port = 587
		if s.TLS == TLSImplicit {
			port = 465
		}
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// Fleet is the [fleet] section: blocks shared with other hosts through a
// CrowdSec Local API. Secrets are read from files, never kept in the
// config itself.
type Fleet struct {
	LAPIURL      string   `toml:"lapi_url"`
	MachineID    string   `toml:"machine_id"`
	PasswordFile string   `toml:"password_file"`
	APIKeyFile   string   `toml:"api_key_file"`
	PollEvery    Duration `toml:"poll_every"`
	ResyncEvery  Duration `toml:"resync_every"`
	Origins      []string `toml:"origins"`
	MaxDecisions int      `toml:"max_decisions"`
}

// On reports whether the fleet is configured.
func (f Fleet) On() bool { return f.LAPIURL != "" }

// Admin is the [admin] section: the local management web page.
type Admin struct {
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Socket is the daemon's control API (HTTP over a Unix socket) that
	// the CLI and the web page use.
	Socket string `toml:"socket"`
}

// Metrics is the [metrics] section: the Prometheus endpoint.
type Metrics struct {
	// Listen is host:port of /metrics; "" serves none.
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// BearerTokenFile holds the secret a scraper must send as
	// "Authorization: Bearer"; "" serves without one (loopback only).
	BearerTokenFile string `toml:"bearer_token_file"`
}

// On reports whether metrics are served.
func (m Metrics) On() bool { return m.Listen != "" }

// Log is the "log" section: the format and level of sipprot's own logs.
type Log struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// SlogLevel returns Level as a slog.Level; Load has already rejected any
// other spelling, so an unknown one falls back to info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Source returns the path the config was loaded from, or "defaults" when it
// is the embedded defaults.
func (c *Config) Source() string { return c.source }

// DefaultsTOML returns the embedded, commented default config: every key,
// each with its default value.
func DefaultsTOML() []byte {
	return append([]byte(nil), defaultsTOML...)
}

// Defaults returns the embedded default config. Each call returns a fresh
// copy the caller may modify.
func Defaults() *Config {
	cfg, err := decode(DefaultsSource, defaultsTOML, &Config{})
	if err != nil {
		// The embedded file is part of the binary and tested; failing here
		// is a build mistake, not a user error.
		panic(fmt.Sprintf("conf: embedded defaults are invalid: %v", err))
	}
	return cfg
}
