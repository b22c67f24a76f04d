package conf

import (
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// writeConf writes text to a fresh file and returns its path.
func writeConf(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sipprot.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// same compares two configs, ignoring where they came from.
func same(a, b *Config) bool {
	x, y := *a, *b
	x.source, y.source = "", ""
	return reflect.DeepEqual(x, y)
}

func TestLoadRejects(t *testing.T) {
	// want is the start of the first error line, FILE standing for the path.
	// Messages we write are given in full; the TOML parser's are cut after
	// "syntax error:".
	tests := []struct {
		name string
		toml string
		want string
	}{
		// TOML syntax.
		{"bare duration", "[sip]\nblock_time = 10m\n", "FILE:2: sip.block_time: syntax error:"},
		{"duplicate key", "[sip]\nblock_threshold = 3\nblock_threshold = 4\n", "FILE:3: sip.block_threshold: syntax error:"},
		{"unclosed header", "# x\n\n[sip\nports = [\"5060\"]\n", "FILE:3: sip: syntax error:"},
		{"duplicate table", "[sip]\nblock_time = \"1m\"\n[sip]\n", "FILE:3: sip: syntax error:"},
		{"dotted key syntax", "sip.block_time = 10m\n", "FILE:1: sip.block_time: syntax error:"},
		{"after byte order mark", "\ufeff[sip]\nblock_time = 10m\n", "FILE:2: sip.block_time: syntax error:"},
		{"double comma", "[sip]\nports = [\"5060\",\n,]\n", "FILE:3: syntax error:"},
		{"unclosed string", "[smtp]\nhost = \"mail\n", "FILE:2: smtp.host: syntax error:"},

		// Unknown names.
		{"unknown section", "[sip]\n[sipp]\nports = [\"5060\"]\n", "FILE:2: sipp: unknown section"},
		{"unknown array of tables", "[[rules]]\nx = 1\n", "FILE:1: rules: unknown section"},
		{"unknown key", "[sip]\nport = [\"5060\"]\n", "FILE:2: sip.port: unknown key"},
		{"key with wrong case", "[sip]\n\nPorts = [\"5060\"]\n", "FILE:3: sip.Ports: unknown key (did you mean ports?)"},
		{"dash for underscore", "[sip]\nblock-time = \"5m\"\n", "FILE:2: sip.block-time: unknown key (did you mean block_time?)"},
		{"unknown top-level key", "# x\ndebug = true\n", "FILE:2: debug: unknown key"},
		{"unknown dotted key", "sip.ports = [\"5060\"]\nsip.colour = 1\n", "FILE:2: sip.colour: unknown key"},
		{"unknown key in inline table", "\nsip = { ports = [\"5060\"], colour = 1 }\n", "FILE:2: sip.colour: unknown key"},
		{"unknown sub-table", "[sip]\nports = [\"5060\"]\n[sip.extra]\nx = 1\n", "FILE:3: sip.extra: unknown key"},
		{"quoted unknown key", "[sip]\n\"a b\" = 1\n", "FILE:2: sip.\"a b\": unknown key"},

		// Wrong TOML types.
		{"section not a table", "sip = 5\n", "FILE:1: sip: must be a table [sip], got integer 5"},
		{"section array of tables", "[[sip]]\nports = [\"5060\"]\n", "FILE:1: sip: must be a table [sip], got array of tables"},
		{"string for int", "[sip]\nblock_threshold = \"5\"\n", "FILE:2: sip.block_threshold: must be an integer, got string \"5\""},
		{"float for int", "[tftp]\nburst = 5.5\n", "FILE:2: tftp.burst: must be an integer, got float 5.5"},
		{"string for bool", "[sip]\ndrop_malformed = \"yes\"\n", "FILE:2: sip.drop_malformed: must be true or false, got string \"yes\""},
		{"int for string", "[lists]\nallow = 1\n", "FILE:2: lists.allow: must be a string, got integer 1"},
		{"scalar for array", "[sip]\nports = 5060\n", "FILE:2: sip.ports: must be an array, got integer 5060"},
		{"bool in text array", "[sip]\nports = [true]\n", "FILE:2: sip.ports: element 1: must be a string, got boolean true"},
		{"table for duration", "[sip]\nblock_time = { m = 10 }\n", "FILE:2: sip.block_time: must be a string, got table"},
		{"int in string array", "[sip]\nblocked_user_agents = [\"x\", 3]\n", "FILE:2: sip.blocked_user_agents: element 2: must be a string, got integer 3"},

		// Durations.
		{"bad duration", "[sip]\nblock_time = \"10 minutes\"\n", "FILE:2: sip.block_time: \"10 minutes\" is not a duration (like \"90s\", \"10m\", \"24h\")"},
		{"duration without unit", "[smtp]\ntimeout = 30\n", "FILE:2: smtp.timeout: \"30\" is not a duration (like \"90s\", \"10m\", \"24h\")"},
		{"zero block_time", "[sip]\nblock_time = \"0s\"\n", "FILE:2: sip.block_time: must be more than 0, got 0s"},
		{"zero update_every", "[geoip]\n\nupdate_every = \"0h\"\n", "FILE:3: geoip.update_every: must be more than 0, got 0s"},
		{"negative per_attack_every", "[notify]\nper_attack_every = \"-1h\"\n", "FILE:2: notify.per_attack_every: must be more than 0, got -1h"},
		{"zero smtp timeout", "[smtp]\ntimeout = \"0ms\"\n", "FILE:2: smtp.timeout: must be more than 0, got 0s"},

		// Ports and protocols.
		{"port too big", "[sip]\nports = [\"70000\"]\n", "FILE:2: sip.ports: element 1: \"70000\" has port 70000, out of range 1-65535"},
		{"port zero", "[sip]\nports = [0]\n", "FILE:2: sip.ports: element 1: \"0\" has port 0, out of range 1-65535"},
		{"port not a number", "[sip]\nports = [\"sip\"]\n", "FILE:2: sip.ports: element 1: \"sip\" is not a port or range (like \"5060\" or \"5060:5062\")"},
		{"range reversed", "[sip]\nports = [\"5062:5060\"]\n", "FILE:2: sip.ports: element 1: \"5062:5060\" is not a port range: 5062 is above 5060"},
		{"range open", "[sip]\nports = [\"5060:\"]\n", "FILE:2: sip.ports: element 1: \"5060:\" is not a port or range (like \"5060\" or \"5060:5062\")"},
		{"range dash", "[sip]\nports = [\"5060-5062\"]\n", "FILE:2: sip.ports: element 1: \"5060-5062\" is not a port or range"},
		{"port in multi-line array", "[sip]\nports = [\n  \"5060\",\n  \"x\",\n]\n", "FILE:4: sip.ports: element 2: \"x\" is not a port"},
		{"ports overlap", "[sip]\nports = [\"5060:5062\", \"5061\"]\n", "FILE:2: sip.ports: \"5061\" overlaps \"5060:5062\""},
		{"ports empty", "[sip]\nports = []\n", "FILE:2: sip.ports: must list at least one port"},
		{"protocols empty", "[sip]\nprotocols = []\n", "FILE:2: sip.protocols: must list at least one protocol"},
		{"protocol unknown", "[sip]\nprotocols = [\"sctp\"]\n", "FILE:2: sip.protocols: element 1: unknown protocol \"sctp\" (want \"udp\" or \"tcp\")"},
		{"protocol twice", "[sip]\nprotocols = [\n\"udp\",\n\"UDP\",\n]\n", "FILE:4: sip.protocols: \"udp\" is listed twice"},
		{"protocols not array", "[sip]\nprotocols = \"udp\"\n", "FILE:2: sip.protocols: must be an array, got string \"udp\""},

		// Integer ranges.
		{"block_threshold high", "[sip]\n\n\n\n\n\nblock_threshold = 30\n", "FILE:7: sip.block_threshold: must be between 1 and 20, got 30"},
		{"block_threshold zero", "[sip]\nblock_threshold = 0\n", "FILE:2: sip.block_threshold: must be between 1 and 20, got 0"},
		{"failures zero", "[sip]\nfailures_per_minute = 0\n", "FILE:2: sip.failures_per_minute: must be between 1 and 1000, got 0"},
		{"failures high", "[sip]\nfailures_per_minute = 1001\n", "FILE:2: sip.failures_per_minute: must be between 1 and 1000, got 1001"},
		{"unbound_nonce", "[sip]\nbind_nonces = true\nunbound_nonce = \"block\"\n", `FILE:3: sip.unbound_nonce: must be "failure", "count" or "drop", got "block"`},
		{"requests_per_second negative", "[sip]\nrequests_per_second = -1\n", "FILE:2: sip.requests_per_second: must be 0 or more, got -1"},
		{"tftp per_minute zero", "[tftp]\nper_minute = 0\n", "FILE:2: tftp.per_minute: must be 1 or more, got 0"},
		{"tftp burst zero", "[tftp]\nburst = 0\n", "FILE:2: tftp.burst: must be 1 or more, got 0"},
		{"queue number negative", "[queue]\nnumber = -1\n", "FILE:2: queue.number: must be between 0 and 65535, got -1"},
		{"queue number high", "[queue]\nnumber = 65536\n", "FILE:2: queue.number: must be between 0 and 65535, got 65536"},
		{"queue count zero", "[queue]\ncount = 0\n", "FILE:2: queue.count: must be 1 or more, got 0"},
		{"queue range past end", "[queue]\nnumber = 65000\ncount = 600\n", "FILE:3: queue.count: queues 65000 to 65599 go past 65535"},
		{"queue number pushes default count", "[queue]\nnumber = 65535\n", ""},
		{"queue number pushes count", "[queue]\ncount = 2\n[sip]\n[queue.x]\n", "FILE:4: queue.x: unknown key"},
		{"guard_pps negative", "[queue]\nguard_pps = -5\n", "FILE:2: queue.guard_pps: must be between 0 and 1000000, got -5"},
		{"guard_pps over hashlimit", "[queue]\nguard_pps = 1000001\n", "FILE:2: queue.guard_pps: must be between 0 and 1000000, got 1000001"},
		{"retention zero", "[state]\nretention_days = 0\n", "FILE:2: state.retention_days: must be 1 or more, got 0"},
		{"smtp port high", "[smtp]\nport = 65536\n", "FILE:2: smtp.port: must be between 0 and 65535, got 65536"},
		{"smtp port negative", "[smtp]\nport = -1\n", "FILE:2: smtp.port: must be between 0 and 65535, got -1"},

		// Strings with a fixed set of values.
		{"queue mode", "[queue]\nmode = \"inline\"\n", "FILE:2: queue.mode: must be \"local\" or \"forward\", got \"inline\""},
		{"smtp tls", "[smtp]\ntls = \"ssl\"\n", "FILE:2: smtp.tls: must be \"starttls\", \"tls\" or \"none\", got \"ssl\""},
		{"log format", "[log]\nformat = \"xml\"\n", "FILE:2: log.format: must be \"text\" or \"json\", got \"xml\""},
		{"log level", "[log]\nlevel = \"verbose\"\n", "FILE:2: log.level: must be \"debug\", \"info\", \"warn\" or \"error\", got \"verbose\""},
		{"log level case", "[log]\nlevel = \"INFO\"\n", "FILE:2: log.level: must be"},

		// User-Agents and countries.
		{"empty user agent", "[sip]\nblocked_user_agents = [\"sipvicious\", \"\"]\n", "FILE:2: sip.blocked_user_agents: element 2 is empty, which would match every User-Agent"},
		{"blank user agent", "[sip]\nblocked_user_agents = [\n  \"sipvicious\",\n  \"  \",\n]\n", "FILE:4: sip.blocked_user_agents: element 2 is empty"},
		{"country three letters", "[sip]\nblocked_countries = [\"FRA\"]\n", "FILE:2: sip.blocked_countries: element 1: \"FRA\" is not a two-letter country code (like \"CN\")"},
		{"country digits", "[sip]\nblocked_countries = [\"F1\"]\n", "FILE:2: sip.blocked_countries: element 1: \"F1\" is not a two-letter country code"},
		{"country empty", "[sip]\nblocked_countries = [\"\"]\n", "FILE:2: sip.blocked_countries: element 1: \"\" is not a two-letter country code"},
		{"country without database", "[sip]\nblocked_countries = [\"CN\"]\n[geoip]\ndatabase = \"\"\n", "FILE:2: sip.blocked_countries: needs geoip.database to tell countries apart"},
		{"country unknown", "[sip]\nblocked_countries = [\"ZZ\"]\n", "FILE:2: sip.blocked_countries: unknown country code \"ZZ\""},
		{"country unknown lower-case", "[sip]\nblocked_countries = [\"cn\", \"xx\"]\n", "FILE:2: sip.blocked_countries: unknown country code \"XX\""},
		{"country unknown on its line", "[sip]\nblocked_countries = [\n  \"CN\",\n  \"RU\",\n  \"QQ\",\n]\n", "FILE:5: sip.blocked_countries: unknown country code \"QQ\""},
		{"country kosovo", "[sip]\nblocked_countries = [\"XK\", \"gb\"]\n", ""},

		// Addresses.
		{"guard_exempt bad ip", "[queue]\nguard_exempt = [\"192.0.2.300\"]\n", "FILE:2: queue.guard_exempt: element 1: \"192.0.2.300\" is not an IP address or CIDR"},
		{"guard_exempt bad bits", "[queue]\nguard_exempt = [\"192.0.2.0/33\"]\n", "FILE:2: queue.guard_exempt: element 1: \"192.0.2.0/33\" is not an IP address or CIDR"},
		{"guard_exempt zone", "[queue]\nguard_exempt = [\"fe80::1%eth0\"]\n", "FILE:2: queue.guard_exempt: element 1: \"fe80::1%eth0\" is not an IP address or CIDR"},
		{"guard_exempt hostname", "[queue]\nguard_exempt = [\"pbx.example.com\"]\n", "FILE:2: queue.guard_exempt: element 1: \"pbx.example.com\" is not an IP address or CIDR"},
		{"recipient bad", "[notify]\nrecipients = [\n  \"ops@example.com\",\n  \"not an address\",\n]\n", "FILE:4: notify.recipients: \"not an address\" is not an email address"},
		{"recipients string", "[notify]\nrecipients = \"ops@example.com\"\n", "FILE:2: notify.recipients: must be an array, got string \"ops@example.com\""},
		{"smtp from bad", "[smtp]\nfrom = \"sipprot\"\n", "FILE:2: smtp.from: \"sipprot\" is not an email address"},
		{"admin listen no port", "[admin]\nlisten = \"127.0.0.1\"\n", "FILE:2: admin.listen: \"127.0.0.1\" is not host:port (like \"127.0.0.1:8465\")"},
		{"admin listen named port", "[admin]\nlisten = \"127.0.0.1:http\"\n", "FILE:2: admin.listen: \"127.0.0.1:http\": port must be a number between 1 and 65535"},
		{"admin listen port zero", "[admin]\nlisten = \"127.0.0.1:0\"\n", "FILE:2: admin.listen: \"127.0.0.1:0\": port must be a number between 1 and 65535"},
		{"admin listen empty", "[admin]\nlisten = \"\"\n", "FILE:2: admin.listen: \"\" is not host:port"},
		{"admin listen non-loopback without TLS", "[admin]\nlisten = \"0.0.0.0:8465\"\n", "FILE:2: admin.listen: 0.0.0.0:8465 is not a loopback address and needs TLS: set admin.tls_cert and admin.tls_key, or listen on 127.0.0.1"},
		{"admin listen any host without TLS", "[admin]\nlisten = \":8465\"\n", "FILE:2: admin.listen: :8465 is not a loopback address and needs TLS"},
		{"metrics listen no port", "[metrics]\nlisten = \"127.0.0.1\"\n", "FILE:2: metrics.listen: \"127.0.0.1\" is not host:port (like \"127.0.0.1:9465\")"},
		{"metrics listen non-loopback without TLS", "[metrics]\nlisten = \"0.0.0.0:9465\"\n", "FILE:2: metrics.listen: 0.0.0.0:9465 is not a loopback address and needs TLS: set metrics.tls_cert and metrics.tls_key, or listen on 127.0.0.1"},
		{"metrics off loopback without a token", "[metrics]\nlisten = \"192.0.2.5:9465\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n", "FILE:2: metrics.listen: 192.0.2.5:9465 is not a loopback address: set metrics.bearer_token_file, the secret your Prometheus sends"},
		{"metrics token path relative", "[metrics]\nbearer_token_file = \"metrics.token\"\n", "FILE:2: metrics.bearer_token_file: must be an absolute path, not \"metrics.token\""},
		{"metrics cert without key", "[metrics]\ntls_cert = \"/c\"\n", "FILE:2: metrics.tls_cert: is set but metrics.tls_key is not"},
		{"fleet url not http", "[fleet]\nlapi_url = \"ftp://lapi\"\napi_key_file = \"/k\"\n", "FILE:2: fleet.lapi_url: \"ftp://lapi\" is not an http or https URL"},
		{"fleet url with credentials", "[fleet]\nlapi_url = \"http://u:p@lapi:8080\"\napi_key_file = \"/k\"\n", "FILE:2: fleet.lapi_url: must not hold credentials"},
		{"fleet url without login", "[fleet]\nlapi_url = \"http://lapi:8080\"\n", "FILE:2: fleet.lapi_url: is set but neither machine_id (push) nor api_key_file (enforce) is"},
		{"fleet machine without password", "[fleet]\nlapi_url = \"http://lapi:8080\"\nmachine_id = \"pbx1\"\n", "FILE:3: fleet.machine_id: is set but fleet.password_file is not"},
		{"fleet machine id with slash", "[fleet]\nmachine_id = \"a/b\"\npassword_file = \"/p\"\n", "FILE:2: fleet.machine_id: \"a/b\" must not contain"},
		{"fleet poll too fast", "[fleet]\npoll_every = \"10ms\"\n", "FILE:2: fleet.poll_every: must be 100ms or more, got 10ms"},
		{"fleet resync below poll", "[fleet]\npoll_every = \"2s\"\nresync_every = \"1s\"\n", "FILE:3: fleet.resync_every: must be 1s or more and at least poll_every, got 1s"},
		{"fleet empty origin", "[fleet]\norigins = [\"cscli\", \"\"]\n", "FILE:2: fleet.origins: \"\" is not an origin"},
		{"fleet max decisions zero", "[fleet]\nmax_decisions = 0\n", "FILE:2: fleet.max_decisions: must be between 1 and 10000000, got 0"},
		{"tls_cert alone", "[admin]\ntls_cert = \"/c\"\n", "FILE:2: admin.tls_cert: is set but admin.tls_key is not; set both or neither"},
		{"tls_key alone", "[admin]\n\ntls_key = \"/k\"\n", "FILE:3: admin.tls_key: is set but admin.tls_cert is not; set both or neither"},
		{"socket relative", "[admin]\nsocket = \"sipprot.sock\"\n", "FILE:2: admin.socket: must be an absolute path, not \"sipprot.sock\""},
		{"update_url ftp", "[geoip]\nupdate_url = \"ftp://geo.example.com/db\"\n", "FILE:2: geoip.update_url: \"ftp://geo.example.com/db\" is not an http or https URL"},
		{"update_url no host", "[geoip]\nupdate_url = \"https:///db\"\n", "FILE:2: geoip.update_url: \"https:///db\" is not an http or https URL"},
		{"account without key", "[geoip]\naccount_id = \"1\"\n", "FILE:2: geoip.account_id: is set but geoip.license_key_file is not; set both or neither"},

		// Times of day.
		{"daily_at one digit", "[notify]\ndaily_at = \"7:00\"\n", "FILE:2: notify.daily_at: \"7:00\" is not a time of day HH:MM (00:00-23:59)"},
		{"daily_at 24:00", "[notify]\ndaily_at = \"24:00\"\n", "FILE:2: notify.daily_at: \"24:00\" is not a time of day"},
		{"daily_at 12:60", "[notify]\ndaily_at = \"12:60\"\n", "FILE:2: notify.daily_at: \"12:60\" is not a time of day"},
		{"daily_at integer", "[notify]\ndaily_at = 700\n", "FILE:2: notify.daily_at: \"700\" is not a time of day"},

		// Paths.
		{"allow empty", "[lists]\nallow = \"\"\n", "FILE:2: lists.allow: must not be empty"},
		{"deny same as allow", "[lists]\nallow = \"/l\"\ndeny = \"/l\"\n", "FILE:3: lists.deny: allow and deny lists are the same file \"/l\""},
		{"state dir empty", "[state]\ndir = \" \"\n", "FILE:2: state.dir: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, tt.toml)
			cfg, err := Load(path, true)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.toml)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with error %v", err)
			}
			want := strings.Replace(tt.want, "FILE", path, 1)
			first, _, _ := strings.Cut(err.Error(), "\n")
			if !strings.HasPrefix(first, want) {
				t.Errorf("error\n got: %s\nwant: %s...", first, want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *conf.Error", err)
			}
		})
	}
}

// A queue past 65535 is reported at whichever of the two keys the file sets.
func TestQueueRangeAtNumber(t *testing.T) {
	path := writeConf(t, "[queue]\ncount = 2\n")
	if _, err := Load(path, true); err != nil {
		t.Fatalf("count=2 from queue 0: %v", err)
	}
	path = writeConf(t, "[queue]\n\nnumber = 65535\ncount = 1\n")
	if _, err := Load(path, true); err != nil {
		t.Fatal(err)
	}
	path = writeConf(t, "[queue]\n\nnumber = 65535\n[sip]\n")
	cfg, err := Parse(path, []byte("[queue]\n\nnumber = 65535\n"))
	if err != nil || cfg.Queue.Number != 65535 {
		t.Fatalf("number 65535 with default count: %v", err)
	}
}

func TestLoadReportsEveryProblemInFileOrder(t *testing.T) {
	path := filepath.Join("testdata", "many_errors.toml")
	_, err := Load(path, true)
	if err == nil {
		t.Fatal("Load accepted testdata/many_errors.toml")
	}
	want := strings.Join([]string{
		path + `:3: sip.protocols: element 3: unknown protocol "sctp" (want "udp" or "tcp")`,
		path + `:6: sip.ports: element 2: "70000" has port 70000, out of range 1-65535`,
		path + `:8: sip.block_threshold: must be between 1 and 20, got 30`,
		path + `:10: colour: unknown section`,
		path + `:14: admin.tls_cert: is set but admin.tls_key is not; set both or neither`,
		path + `:19: notify.recipients: "not an address" is not an email address`,
		path + `:21: notify.daily_at: "7pm" is not a time of day HH:MM (00:00-23:59)`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.conf")

	cfg, err := Load(path, false)
	if err != nil {
		t.Fatalf("missing optional file: %v", err)
	}
	if cfg.Source() != DefaultsSource || !same(cfg, Defaults()) {
		t.Errorf("missing optional file gave source %q, want the defaults", cfg.Source())
	}

	cfg, err = Load(path, true)
	if err == nil || cfg != nil {
		t.Fatalf("missing required file: cfg=%v err=%v", cfg, err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing required file: error %q should name it and wrap fs.ErrNotExist", err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	// A directory exists but cannot be read as a file: that is never "use
	// the defaults".
	if _, err := Load(t.TempDir(), false); err == nil {
		t.Fatal("Load of a directory succeeded")
	}
}

func TestDefaults(t *testing.T) {
	d := Defaults()
	if d.Source() != DefaultsSource {
		t.Errorf("Source() = %q, want %q", d.Source(), DefaultsSource)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"protocols", d.SIP.Protocols, []Protocol{UDP, TCP}},
		{"ports", d.SIP.Ports, []PortRange{{5060, 5060}}},
		{"failures_per_minute", d.SIP.FailuresPerMinute, 10},
		{"block_time", d.SIP.BlockTime.Duration, 10 * time.Minute},
		{"block_threshold", d.SIP.BlockThreshold, 5},
		{"blocked_countries", d.SIP.BlockedCountries, []Country{}},
		{"requests_per_second", d.SIP.RequestsPerSecond, 0},
		{"drop_malformed", d.SIP.DropMalformed, false},
		{"bind_nonces", d.SIP.BindNonces, true},
		{"unbound_nonce", d.SIP.UnboundNonce, UnboundFailure},
		{"database", d.GeoIP.Database, "/var/lib/sipprot/country.mmdb"},
		{"update_every", d.GeoIP.UpdateEvery.Duration, 24 * time.Hour},
		{"tftp", d.TFTP, TFTP{Enabled: true, PerMinute: 10, Burst: 100}},
		{"dns", d.DNS, DNS{Enabled: true}},
		{"queue", d.Queue, Queue{Number: 0, Count: 1, FailOpen: true, Mode: ModeLocal, GuardPPS: 500, GuardExempt: []Prefix{}}},
		{"lists", d.Lists, Lists{Allow: "/etc/sipprot/allowlist", Deny: "/etc/sipprot/denylist"}},
		{"state", d.State, State{Dir: "/var/lib/sipprot", RetentionDays: 90}},
		{"notify", d.Notify, Notify{Recipients: []string{}, DailySummary: true, DailyAt: TimeOfDay{7, 0}, DailySummaryQuiet: true, PerAttack: true, PerAttackEvery: Duration{time.Hour}}},
		{"smtp", d.SMTP, SMTP{Port: 0, Timeout: Duration{30 * time.Second}, TLS: TLSStartTLS}},
		{"admin", d.Admin, Admin{Listen: "127.0.0.1:8465", Socket: "/run/sipprot/sipprot.sock"}},
		{"metrics", d.Metrics, Metrics{Listen: "127.0.0.1:9465"}},
		{"log", d.Log, Log{Format: "text", Level: "info"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
	if n := len(d.SIP.BlockedUserAgents); n < 5 || n > 15 {
		t.Errorf("%d default scanner User-Agents, want a short list", n)
	}
}

func TestDefaultsAreFresh(t *testing.T) {
	a := Defaults()
	a.SIP.Ports[0] = PortRange{1, 1}
	a.SIP.BlockedUserAgents[0] = "changed"
	if b := Defaults(); b.SIP.Ports[0].Lo != 5060 || b.SIP.BlockedUserAgents[0] == "changed" {
		t.Error("changing one Defaults() result changed the next")
	}
}

// The embedded defaults must load cleanly as a user file, and mean the same
// to the TOML library's own decoder as to ours.
func TestDefaultsTOML(t *testing.T) {
	cfg, err := Load(writeConf(t, string(DefaultsTOML())), true)
	if err != nil {
		t.Fatalf("embedded defaults do not load: %v", err)
	}
	if !same(cfg, Defaults()) {
		t.Error("loading DefaultsTOML as a file differs from Defaults()")
	}

	var lib Config
	md, err := toml.Decode(string(DefaultsTOML()), &lib)
	if err != nil {
		t.Fatalf("toml.Decode: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("keys in defaults.toml without a Config field: %v", u)
	}
	if !same(&lib, Defaults()) {
		t.Errorf("toml.Decode of DefaultsTOML\n got %+v\nwant %+v", lib, *Defaults())
	}
}

// Every key of Config appears in defaults.toml, under a comment that says
// what it does: `config defaults` is the reference users read.
func TestDefaultsTOMLDocumentsEveryKey(t *testing.T) {
	text := string(DefaultsTOML())
	lines := strings.Split(text, "\n")
	ix := indexLines(text)
	for _, sec := range schema {
		for _, f := range sec.keys {
			key := sec.name + "." + f.name
			t.Run(key, func(t *testing.T) {
				l, ok := ix[key]
				if !ok {
					t.Fatalf("%s missing from defaults.toml", key)
				}
				if above := strings.TrimSpace(lines[l-2]); !strings.HasPrefix(above, "# ") {
					t.Errorf("%s (line %d) has no comment above it", key, l)
				}
			})
		}
	}
}

func TestLoadFullFile(t *testing.T) {
	path := filepath.Join("testdata", "full.toml")
	cfg, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source() != path {
		t.Errorf("Source() = %q, want %q", cfg.Source(), path)
	}
	want := &Config{
		SIP: SIP{
			Protocols:         []Protocol{UDP},
			Ports:             []PortRange{{5060, 5062}, {5080, 5080}},
			FailuresPerMinute: 3,
			BlockTime:         Duration{90 * time.Minute},
			BlockThreshold:    20,
			BlockedUserAgents: []string{"friendly-scanner", "evil scan"},
			BlockedCountries:  []Country{"CN", "RU"},
			RequestsPerSecond: 50,
			DropMalformed:     true,
			BindNonces:        false,
			UnboundNonce:      UnboundDrop,
		},
		GeoIP: GeoIP{
			Database:       "/srv/geo/country.mmdb",
			UpdateURL:      "https://geo.example.com/country.mmdb",
			UpdateEvery:    Duration{168 * time.Hour},
			AccountID:      "123456",
			LicenseKeyFile: "/etc/sipprot/maxmind.key",
		},
		TFTP: TFTP{Enabled: false, PerMinute: 20, Burst: 40},
		DNS:  DNS{Enabled: false},
		Queue: Queue{
			Number: 100, Count: 4, FailOpen: false, Mode: ModeForward, GuardPPS: 0,
			GuardExempt: []Prefix{
				{netip.MustParsePrefix("192.0.2.0/24")},
				{netip.MustParsePrefix("2001:db8::1/128")},
				{netip.MustParsePrefix("198.51.100.1/32")},
			},
		},
		Lists: Lists{Allow: "/srv/sipprot/allow", Deny: "/srv/sipprot/deny"},
		State: State{Dir: "/srv/sipprot/state", RetentionDays: 7},
		Notify: Notify{
			Recipients:        []string{"ops@example.com", "Night Desk <night@example.com>"},
			DailySummary:      false,
			DailyAt:           TimeOfDay{23, 59},
			DailySummaryQuiet: false,
			PerAttack:         false,
			PerAttackEvery:    Duration{15 * time.Minute},
		},
		SMTP: SMTP{
			Host: "mail.example.com", Port: 0, Username: "sipprot",
			PasswordFile: "/etc/sipprot/smtp.pass", From: "sipprot@example.com",
			Timeout: Duration{time.Minute}, TLS: TLSImplicit,
		},
		Admin:   Admin{Listen: "[2001:db8::1]:9000", TLSCert: "/etc/sipprot/admin.crt", TLSKey: "/etc/sipprot/admin.key", Socket: "/srv/sipprot/ctl.sock"},
		Metrics: Metrics{Listen: "[2001:db8::1]:9100", TLSCert: "/etc/sipprot/metrics.crt", TLSKey: "/etc/sipprot/metrics.key", BearerTokenFile: "/etc/sipprot/metrics.token"},
		Fleet: Fleet{LAPIURL: "http://[2001:db8::5]:8080", MachineID: "pbx1", PasswordFile: "/etc/sipprot/lapi.pass",
			APIKeyFile: "/etc/sipprot/lapi.key", PollEvery: Duration{2 * time.Second}, ResyncEvery: Duration{5 * time.Minute}, Origins: []string{"sipprot", "cscli", "CAPI"}, MaxDecisions: 50000},
		Log: Log{Format: "json", Level: "debug"},
	}
	if !same(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", *cfg, *want)
	}
	if got := cfg.SMTP.Addr(); got != "mail.example.com:465" {
		t.Errorf("SMTP.Addr() = %q, want port 465 for tls with port 0", got)
	}
}

func TestLoadInlineAndDotted(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "inline.toml"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.SIP.Ports; !reflect.DeepEqual(got, []PortRange{{5070, 5070}}) {
		t.Errorf("sip.ports = %v", got)
	}
	if cfg.SIP.BlockThreshold != 3 || cfg.Queue.Number != 7 || cfg.Queue.Count != 2 || cfg.Log.Level != "warn" {
		t.Errorf("dotted or inline keys not applied: %+v %+v %+v", cfg.SIP, cfg.Queue, cfg.Log)
	}
	if cfg.Queue.GuardPPS != 500 {
		t.Errorf("inline table dropped the default guard_pps: %d", cfg.Queue.GuardPPS)
	}
}

func TestArraysReplaceDefaults(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(*Config) bool
	}{
		{"user agents", "[sip]\nblocked_user_agents = [\"only-this\"]\n",
			func(c *Config) bool { return reflect.DeepEqual(c.SIP.BlockedUserAgents, []string{"only-this"}) }},
		{"user agents emptied", "[sip]\nblocked_user_agents = []\n",
			func(c *Config) bool { return len(c.SIP.BlockedUserAgents) == 0 }},
		{"protocols", "[sip]\nprotocols = [\"tcp\"]\n",
			func(c *Config) bool { return reflect.DeepEqual(c.SIP.Protocols, []Protocol{TCP}) }},
		{"ports", "[sip]\nports = [\"5080\"]\n",
			func(c *Config) bool { return reflect.DeepEqual(c.SIP.Ports, []PortRange{{5080, 5080}}) }},
		{"countries", "[sip]\nblocked_countries = [\"cn\"]\n",
			func(c *Config) bool { return reflect.DeepEqual(c.SIP.BlockedCountries, []Country{"CN"}) }},
		{"untouched keys keep defaults", "[sip]\nports = [\"5080\"]\n",
			func(c *Config) bool {
				return c.SIP.BlockThreshold == 5 && len(c.SIP.BlockedUserAgents) == len(Defaults().SIP.BlockedUserAgents)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeConf(t, tt.toml), true)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config %+v", cfg.SIP)
			}
		})
	}
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	weird := "[sip]\nblocked_user_agents = [\"quote\\\" back\\\\slash\", \"tab\\there\", \"bell\\u0007\", \"ünïcødé\", \"line\\nbreak\"]\n"
	tests := []struct {
		name string
		load func(t *testing.T) *Config
	}{
		{"defaults", func(*testing.T) *Config { return Defaults() }},
		{"full", func(t *testing.T) *Config {
			cfg, err := Load(filepath.Join("testdata", "full.toml"), true)
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		}},
		{"escapes", func(t *testing.T) *Config {
			cfg, err := Load(writeConf(t, weird), true)
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.load(t)
			var b bytes.Buffer
			if err := cfg.WriteTOML(&b); err != nil {
				t.Fatal(err)
			}
			again, err := Load(writeConf(t, b.String()), true)
			if err != nil {
				t.Fatalf("WriteTOML output does not load: %v\n%s", err, b.String())
			}
			if !same(cfg, again) {
				t.Errorf("round trip changed the config\nbefore %+v\nafter  %+v\n%s", *cfg, *again, b.String())
			}
			// Every key is written, so the output does not depend on the
			// defaults of the reader.
			var raw map[string]map[string]any
			if _, err := toml.Decode(b.String(), &raw); err != nil {
				t.Fatal(err)
			}
			for _, sec := range schema {
				for _, f := range sec.keys {
					if _, ok := raw[sec.name][f.name]; !ok {
						t.Errorf("WriteTOML left out %s.%s", sec.name, f.name)
					}
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTOMLError(t *testing.T) {
	if err := Defaults().WriteTOML(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteTOML to a failing writer: %v", err)
	}
	c := Defaults()
	c.SIP.Protocols = []Protocol{0}
	if err := c.WriteTOML(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "sip.protocols") {
		t.Errorf("WriteTOML of an invalid protocol: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"full", Error{"/etc/x", 7, "sip.block_threshold", "must be between 1 and 20, got 30"}, "/etc/x:7: sip.block_threshold: must be between 1 and 20, got 30"},
		{"no key", Error{"/etc/x", 3, "", "syntax error: boom"}, "/etc/x:3: syntax error: boom"},
		{"no line", Error{"/etc/x", 0, "queue.count", "bad"}, "/etc/x: queue.count: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
