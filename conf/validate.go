package conf

import (
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// validate checks ranges and combinations that the value types cannot check
// alone. Values come from the defaults unless the user's file set them, and
// the defaults are valid, so each problem lies on a line of the user's file.
func (d *decoder) validate(c *Config) {
	d.validateSIP(&c.SIP, &c.GeoIP)
	d.validateGeoIP(&c.GeoIP)

	between(d, c.TFTP.PerMinute, 1, -1, "tftp", "per_minute")
	between(d, c.TFTP.Burst, 1, -1, "tftp", "burst")

	q := &c.Queue
	between(d, q.Number, 0, 65535, "queue", "number")
	if between(d, q.Count, 1, -1, "queue", "count") && q.Number >= 0 && q.Number <= 65535 && q.Number+q.Count-1 > 65535 {
		d.at(d.firstSet([]string{"queue", "count"}, []string{"queue", "number"}),
			"queues %d to %d go past 65535", q.Number, q.Number+q.Count-1)
	}
	oneOf(d, q.Mode, []string{ModeLocal, ModeForward}, "queue", "mode")
	between(d, q.GuardPPS, 0, 1000000, "queue", "guard_pps") // hashlimit's own limit

	notEmpty(d, c.Lists.Allow, "lists", "allow")
	notEmpty(d, c.Lists.Deny, "lists", "deny")
	if c.Lists.Allow != "" && c.Lists.Allow == c.Lists.Deny {
		d.at(d.firstSet([]string{"lists", "deny"}, []string{"lists", "allow"}), "allow and deny lists are the same file %q", c.Lists.Allow)
	}

	notEmpty(d, c.State.Dir, "state", "dir")
	between(d, c.State.RetentionDays, 1, -1, "state", "retention_days")

	for i, r := range c.Notify.Recipients {
		if _, err := mail.ParseAddress(r); err != nil {
			d.atElem(i, []string{"notify", "recipients"}, "%q is not an email address", r)
		}
	}
	positive(d, c.Notify.PerAttackEvery, "notify", "per_attack_every")

	s := &c.SMTP
	between(d, s.Port, 0, 65535, "smtp", "port")
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			d.at([]string{"smtp", "from"}, "%q is not an email address", s.From)
		}
	}
	positive(d, s.Timeout, "smtp", "timeout")
	oneOf(d, s.TLS, []string{TLSStartTLS, TLSImplicit, TLSNone}, "smtp", "tls")

	d.validateListen("admin", c.Admin.Listen, c.Admin.TLSCert, c.Admin.TLSKey, "127.0.0.1:8465")
	d.pair(c.Admin.TLSCert, c.Admin.TLSKey, []string{"admin", "tls_cert"}, []string{"admin", "tls_key"})
	if c.Metrics.On() {
		d.validateListen("metrics", c.Metrics.Listen, c.Metrics.TLSCert, c.Metrics.TLSKey, "127.0.0.1:9465")
		d.validateMetricsToken(c.Metrics)
	}
	d.pair(c.Metrics.TLSCert, c.Metrics.TLSKey, []string{"metrics", "tls_cert"}, []string{"metrics", "tls_key"})
	if !filepath.IsAbs(c.Admin.Socket) {
		d.at([]string{"admin", "socket"}, "must be an absolute path, not %q", c.Admin.Socket)
	}

	d.validateFleet(&c.Fleet)

	oneOf(d, c.Log.Format, []string{"text", "json"}, "log", "format")
	oneOf(d, c.Log.Level, []string{"debug", "info", "warn", "error"}, "log", "level")
}

func (d *decoder) validateSIP(s *SIP, g *GeoIP) {
	key := func(k string) []string { return []string{"sip", k} }
	if len(s.Protocols) == 0 {
		d.at(key("protocols"), "must list at least one protocol")
	}
	for i, p := range s.Protocols {
		for _, q := range s.Protocols[:i] {
			if p == q {
				d.atElem(i, key("protocols"), "%q is listed twice", p.String())
			}
		}
	}
	if len(s.Ports) == 0 {
		d.at(key("ports"), "must list at least one port")
	}
	for i, r := range s.Ports {
		for _, o := range s.Ports[:i] {
			if r.Overlaps(o) {
				d.atElem(i, key("ports"), "%q overlaps %q", r.String(), o.String())
				break
			}
		}
	}
	between(d, s.FailuresPerMinute, 1, 1000, "sip", "failures_per_minute")
	positive(d, s.BlockTime, "sip", "block_time")
	between(d, s.BlockThreshold, 1, 20, "sip", "block_threshold")
	oneOf(d, s.UnboundNonce, []string{UnboundFailure, UnboundCount, UnboundDrop}, "sip", "unbound_nonce")
	for i, ua := range s.BlockedUserAgents {
		// A blank entry would be a substring of every User-Agent.
		if strings.TrimSpace(ua) == "" {
			d.atElem(i, key("blocked_user_agents"), "element %d is empty, which would match every User-Agent", i+1)
		}
	}
	for i, cc := range s.BlockedCountries {
		if !cc.Known() {
			d.atElem(i, key("blocked_countries"), "unknown country code %q", string(cc))
		}
	}
	if len(s.BlockedCountries) > 0 && g.Database == "" {
		d.at(key("blocked_countries"), "needs geoip.database to tell countries apart")
	}
	between(d, s.RequestsPerSecond, 0, -1, "sip", "requests_per_second")
}

func (d *decoder) validateGeoIP(g *GeoIP) {
	if g.UpdateURL != "" {
		u, err := url.Parse(g.UpdateURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.at([]string{"geoip", "update_url"}, "%q is not an http or https URL", g.UpdateURL)
		}
	}
	positive(d, g.UpdateEvery, "geoip", "update_every")
	// MaxMind authenticates with both; one alone is a half-done setup.
	d.pair(g.AccountID, g.LicenseKeyFile, []string{"geoip", "account_id"}, []string{"geoip", "license_key_file"})
}

func (d *decoder) validateFleet(f *Fleet) {
	key := func(k string) []string { return []string{"fleet", k} }
	if f.LAPIURL != "" {
		u, err := url.Parse(f.LAPIURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			d.at(key("lapi_url"), "%q is not an http or https URL", f.LAPIURL)
		case u.User != nil:
			// The URL is logged and shown in status; secrets go in files.
			d.at(key("lapi_url"), "must not hold credentials; use machine_id, password_file and api_key_file")
		}
		if f.MachineID == "" && f.APIKeyFile == "" {
			d.at(key("lapi_url"), "is set but neither machine_id (push) nor api_key_file (enforce) is")
		}
	}
	if strings.ContainsAny(f.MachineID, "/, ") {
		d.at(key("machine_id"), "%q must not contain '/', ',' or spaces", f.MachineID)
	}
	d.pair(f.MachineID, f.PasswordFile, key("machine_id"), key("password_file"))
	if f.PollEvery.Duration < 100*time.Millisecond {
		d.at(key("poll_every"), "must be 100ms or more, got %s", f.PollEvery)
	}
	if f.ResyncEvery.Duration < time.Second || f.ResyncEvery.Duration < f.PollEvery.Duration {
		d.at(key("resync_every"), "must be 1s or more and at least poll_every, got %s", f.ResyncEvery)
	}
	for i, o := range f.Origins {
		if strings.TrimSpace(o) == "" || strings.ContainsAny(o, ", ") {
			d.atElem(i, key("origins"), "%q is not an origin (like \"cscli\" or \"CAPI\")", o)
		}
	}
	between(d, f.MaxDecisions, 1, 10_000_000, "fleet", "max_decisions")
}

// validateMetricsToken: figures readable from other hosts tell an attacker
// which of its sources are blocked, so off loopback a scraper must prove
// itself with a bearer token, as the web page's users log in.
func (d *decoder) validateMetricsToken(m Metrics) {
	if m.BearerTokenFile != "" && !filepath.IsAbs(m.BearerTokenFile) {
		d.at([]string{"metrics", "bearer_token_file"}, "must be an absolute path, not %q", m.BearerTokenFile)
		return
	}
	host, _, err := net.SplitHostPort(m.Listen)
	if err == nil && !LoopbackHost(host) && m.BearerTokenFile == "" {
		d.at([]string{"metrics", "listen"}, "%s is not a loopback address: set metrics.bearer_token_file, the secret your Prometheus sends", m.Listen)
	}
}

// validateListen checks section's listen key (the web page, the metrics):
// host:port with a real port, and TLS off loopback.
func (d *decoder) validateListen(section, listen, cert, key, example string) {
	at := []string{section, "listen"}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		d.at(at, "%q is not host:port (like %q)", listen, example)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		d.at(at, "%q: port must be a number between 1 and 65535", listen)
		return
	}
	if err := CheckListenTLS(section, listen, cert, key); err != nil {
		d.at(at, "%v", err)
	}
}

// pair reports a key set without its partner, at the key that is set.
func (d *decoder) pair(a, b string, keyA, keyB []string) {
	switch {
	case a != "" && b == "":
		d.at(keyA, "is set but %s is not; set both or neither", keyName(keyB))
	case a == "" && b != "":
		d.at(keyB, "is set but %s is not; set both or neither", keyName(keyA))
	}
}

// firstSet returns the first key that the user's file sets, for problems
// that involve several keys; the first key if the file sets none.
func (d *decoder) firstSet(keys ...[]string) []string {
	for _, k := range keys {
		if d.lines.has(k...) {
			return k
		}
	}
	return keys[0]
}

// between reports n outside lo..hi (hi < 0: no upper bound) and tells
// whether n was in range.
func between(d *decoder, n, lo, hi int, key ...string) bool {
	switch {
	case hi < 0 && n < lo:
		d.at(key, "must be %d or more, got %d", lo, n)
	case hi >= 0 && (n < lo || n > hi):
		d.at(key, "must be between %d and %d, got %d", lo, hi, n)
	default:
		return true
	}
	return false
}

func positive(d *decoder, v Duration, key ...string) {
	if v.Duration <= 0 {
		d.at(key, "must be more than 0, got %s", v)
	}
}

func oneOf(d *decoder, v string, allowed []string, key ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	d.at(key, "must be %s, got %q", quoteList(allowed), v)
}

func notEmpty(d *decoder, v string, key ...string) {
	if strings.TrimSpace(v) == "" {
		d.at(key, "must not be empty")
	}
}

// quoteList spells allowed values as "a", "b" or "c".
func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
