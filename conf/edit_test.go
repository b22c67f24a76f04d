package conf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSetKey(t *testing.T) {
	tests := []struct {
		name         string
		before       string
		section, key string
		value        any
		after        string
	}{
		{"replace a value, keep its comment",
			"# mine\n[smtp]\n# the relay\nhost = \"old\"   # moved in May\nport = 25\n",
			"smtp", "host", "mail.example.com",
			"# mine\n[smtp]\n# the relay\nhost = \"mail.example.com\"   # moved in May\nport = 25\n"},
		{"replace a multi-line array",
			"[notify]\nrecipients = [\n  \"a@example.com\", # Alice\n  \"b@example.com\",\n]\ndaily_at = \"08:00\"\n",
			"notify", "recipients", []string{"b@example.com", "c@example.com"},
			"[notify]\nrecipients = [\"b@example.com\", \"c@example.com\"]\ndaily_at = \"08:00\"\n"},
		{"empty the array",
			"[notify]\nrecipients = [\"a@example.com\"]\n",
			"notify", "recipients", []string(nil),
			"[notify]\nrecipients = []\n"},
		{"add under the section",
			"[notify]\n# when\ndaily_at = \"08:00\"\n\n# mail\n[smtp]\nhost = \"mx\"\n",
			"notify", "recipients", []string{"ops@example.com"},
			"[notify]\n# when\ndaily_at = \"08:00\"\nrecipients = [\"ops@example.com\"]\n\n# mail\n[smtp]\nhost = \"mx\"\n"},
		{"add under an empty section",
			"[notify]\n[smtp]\nhost = \"mx\"\n",
			"notify", "per_attack", false,
			"[notify]\nper_attack = false\n[smtp]\nhost = \"mx\"\n"},
		{"append the section",
			"[sip]\nblock_threshold = 3",
			"smtp", "port", 2525,
			"[sip]\nblock_threshold = 3\n\n[smtp]\nport = 2525\n"},
		{"dotted key in place",
			"notify.daily_at = \"08:00\" # early\n",
			"notify", "daily_at", "06:30",
			"notify.daily_at = \"06:30\" # early\n"},
		{"duration from time.Duration",
			"[notify]\nper_attack_every = \"1h\"\n",
			"notify", "per_attack_every", 90 * time.Minute,
			"[notify]\nper_attack_every = \"1h30m\"\n"},
		{"CRLF file stays CRLF",
			"[notify]\r\ndaily_at = \"08:00\"\r\n[smtp]\r\nhost = \"mx\"\r\n",
			"notify", "daily_summary", false,
			"[notify]\r\ndaily_at = \"08:00\"\r\ndaily_summary = false\r\n[smtp]\r\nhost = \"mx\"\r\n"},
		{"byte order mark kept",
			"\ufeff[smtp]\nhost = \"mx\"\n",
			"smtp", "host", "relay",
			"\ufeff[smtp]\nhost = \"relay\"\n"},
		{"quotes escaped",
			"",
			"smtp", "username", "a\"b\\c",
			"[smtp]\nusername = \"a\\\"b\\\\c\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, tt.before)
			if err := SetKey(path, tt.section, tt.key, tt.value); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.after {
				t.Errorf("file:\n%q\nwant:\n%q", got, tt.after)
			}
		})
	}
}

// A refused edit writes nothing and says which key.
func TestSetKeyRefuses(t *testing.T) {
	const before = "[notify]\nrecipients = [\"a@example.com\"]\n"
	tests := []struct {
		name         string
		section, key string
		value        any
		want         string
	}{
		{"invalid address", "notify", "recipients", []string{"a@example.com", "not an address"},
			`set notify.recipients: nothing written: FILE:2: notify.recipients: "not an address" is not an email address`},
		{"out of range", "sip", "block_threshold", 30,
			"set sip.block_threshold: nothing written: FILE:5: sip.block_threshold: must be between 1 and 20, got 30"},
		{"bad text value", "notify", "daily_at", "7h", `set notify.daily_at: "7h" is not a time of day HH:MM (00:00-23:59)`},
		{"wrong type", "notify", "per_attack", "yes", "set notify.per_attack: want a bool value, got string"},
		{"unknown key", "notify", "recipient", []string{}, "set notify.recipient: unknown key"},
		{"unknown section", "Notify", "recipients", []string{}, "set Notify.recipients: unknown section (did you mean notify?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, before)
			err := SetKey(path, tt.section, tt.key, tt.value)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %v\nwant %s", err, want)
			}
			if got, _ := os.ReadFile(path); string(got) != before {
				t.Errorf("file changed to %q", got)
			}
		})
	}
}

func TestSetKeyInlineTable(t *testing.T) {
	path := writeConf(t, "notify = { recipients = [\"a@example.com\"] }\n")
	err := SetKey(path, "notify", "recipients", []string{})
	if !errors.Is(err, ErrInlineTable) {
		t.Errorf("error %v, want ErrInlineTable", err)
	}
}

// An invalid file stays as it is, whatever the edit.
func TestSetKeyInvalidFile(t *testing.T) {
	const before = "[sip]\nblock_time = 10m\n"
	path := writeConf(t, before)
	if err := SetKey(path, "smtp", "host", "mx"); err == nil || !strings.Contains(err.Error(), "sip.block_time: syntax error") {
		t.Errorf("error %v, want the file's syntax error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != before {
		t.Errorf("file changed to %q", got)
	}
}

func TestSetKeyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sipprot.conf")
	if err := SetKey(path, "notify", "recipients", []string{"ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "[notify]\nrecipients = [\"ops@example.com\"]\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestSetKeyKeepsModeAndOtherLines(t *testing.T) {
	path := writeConf(t, string(DefaultsTOML()))
	os.Chmod(path, 0o600)
	if err := SetKey(path, "smtp", "host", "mail.example.com"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(string(DefaultsTOML()), "host = \"\"\n", "host = \"mail.example.com\"\n", 1)
	if string(got) != want {
		t.Errorf("more than the host line changed:\n%s", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 kept", fi.Mode().Perm())
	}
	c, err := Load(path, true)
	if err != nil || c.SMTP.Host != "mail.example.com" {
		t.Errorf("loads %v, %v", c, err)
	}
}

func TestSetKeyThroughSymlink(t *testing.T) {
	real := writeConf(t, "[smtp]\nhost = \"a\"\n")
	link := filepath.Join(t.TempDir(), "link.conf")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := SetKey(link, "smtp", "host", "b"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if got, _ := os.ReadFile(real); string(got) != "[smtp]\nhost = \"b\"\n" {
		t.Errorf("target %q", got)
	}
}

func TestSetKeys(t *testing.T) {
	path := writeConf(t, "[smtp]\nhost = \"a\"\n")
	err := SetKeys(path, Edit{"smtp", "host", "b"}, Edit{"smtp", "tls", TLSImplicit}, Edit{"notify", "daily_at", TimeOfDay{6, 5}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "[smtp]\nhost = \"b\"\ntls = \"tls\"\n\n[notify]\ndaily_at = \"06:05\"\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
	// One bad edit refuses them all.
	if err := SetKeys(path, Edit{"smtp", "host", "c"}, Edit{"smtp", "tls", "ssl"}); err == nil {
		t.Error("bad tls mode accepted")
	}
	if again, _ := os.ReadFile(path); string(again) != string(got) {
		t.Errorf("file changed to %q", again)
	}
}

// Concurrent edits of different keys all land: the lock serializes the
// read-modify-write.
func TestSetKeyConcurrent(t *testing.T) {
	path := writeConf(t, "# shared\n")
	keys := []Edit{
		{"smtp", "host", "mx"}, {"smtp", "port", 2525}, {"smtp", "username", "u"}, {"smtp", "from", "s@example.com"},
		{"notify", "daily_at", "05:00"}, {"notify", "per_attack", false}, {"notify", "daily_summary", false},
		{"sip", "block_threshold", 7}, {"sip", "failures_per_minute", 3}, {"tftp", "burst", 9},
		{"state", "retention_days", 30}, {"log", "level", "debug"}, {"dns", "enabled", false},
	}
	var wg sync.WaitGroup
	for _, e := range keys {
		wg.Go(func() {
			if err := SetKeys(path, e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range keys {
		got := fmt.Sprint(fieldOf(c, e.Section, e.Key).Interface())
		if want := fmt.Sprint(e.Value); got != want && !(e.Key == "daily_at" && got == "{5 0}") {
			t.Errorf("%s.%s = %s, want %s (an edit was lost)", e.Section, e.Key, got, want)
		}
	}
}

// Update's read-modify-write is atomic: concurrent additions to one list
// all land.
func TestUpdateConcurrentAppends(t *testing.T) {
	path := writeConf(t, "[notify]\n# who\nrecipients = []\n")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := Update(path, func(c *Config) ([]Edit, error) {
				return []Edit{{"notify", "recipients", append(c.Notify.Recipients, fmt.Sprintf("ops%d@example.com", i))}}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c, err := Load(path, true)
	if err != nil || len(c.Notify.Recipients) != 20 {
		t.Errorf("recipients %v, %v; want 20", c.Notify.Recipients, err)
	}
}

func TestUpdateErrors(t *testing.T) {
	path := writeConf(t, "[smtp]\nhost = \"a\"\n")
	refused := errors.New("refused")
	if err := Update(path, func(*Config) ([]Edit, error) { return nil, refused }); err != refused {
		t.Errorf("error %v, want fn's own", err)
	}
	// The defaults stand in for a missing file.
	missing := filepath.Join(t.TempDir(), "none.conf")
	err := Update(missing, func(c *Config) ([]Edit, error) {
		if c.Source() != DefaultsSource {
			t.Errorf("config from %s, want the defaults", c.Source())
		}
		return nil, nil
	})
	if _, serr := os.Stat(missing); err != nil || serr == nil {
		t.Errorf("no-op update: %v, file created: %v", err, serr == nil)
	}
}
