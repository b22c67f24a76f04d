package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
)

func TestValidate(t *testing.T) {
	ok := Config{LAPIURL: "http://127.0.0.1:8080", MachineID: "pbx1", Password: "pw-secret-1", APIKey: "key-secret-2", OutboxDir: "/tmp/x"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"pull only", func(c *Config) { c.MachineID, c.Password, c.OutboxDir = "", "", "" }, ""},
		{"no url", func(c *Config) { c.LAPIURL = "" }, "LAPIURL"},
		{"not http", func(c *Config) { c.LAPIURL = "ftp://h" }, "LAPIURL"},
		{"user in url", func(c *Config) { c.LAPIURL = "http://u:pw-secret-1@h" }, "LAPIURL"},
		{"nothing to do", func(c *Config) { c.MachineID, c.APIKey = "", "" }, "MachineID"},
		{"no password", func(c *Config) { c.Password = "" }, "Password"},
		{"slash in machine", func(c *Config) { c.MachineID = "a/b" }, "MachineID"},
		{"no outbox", func(c *Config) { c.OutboxDir = "" }, "OutboxDir"},
		{"fast poll", func(c *Config) { c.PollEvery = time.Millisecond }, "PollEvery"},
		{"resync below poll", func(c *Config) { c.PollEvery, c.ResyncEvery = 2*time.Second, time.Second }, "ResyncEvery"},
		{"negative max", func(c *Config) { c.MaxDecisions = -1 }, "MaxDecisions"},
		{"bad origin", func(c *Config) { c.Origins = []string{"cscli,CAPI"} }, "Origins"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "Timeout"},
		{"outbox max", func(c *Config) { c.OutboxMax = -1 }, "OutboxMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), ": "+tt.field+":") {
				t.Fatalf("Validate() = %v, want an ErrConfig naming %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.PollEvery != time.Second || c.MaxDecisions != 1_000_000 || len(c.Origins) != 4 {
		t.Errorf("defaults = %+v", c)
	}
	for _, tt := range []struct {
		origin string
		want   bool
	}{{"sipprot/pbx2", true}, {"sipprot", true}, {"sipprotx", false}, {"cscli", true}, {"CAPI", false}, {"lists", false}} {
		if got := originAllowed(c.Origins, tt.origin); got != tt.want {
			t.Errorf("origin %q allowed = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	c := Config{Password: "pw-secret-1", APIKey: "key-secret-2"}
	var b testutil.LogBuffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "pw", c.Password, "key", c.APIKey)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.Password), b.String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

// Saved decisions come back as saved, less the expired ones; a corrupt
// file is an error naming it.
func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ds := []Decision{
		{Prefix: netip.MustParsePrefix("203.0.113.5/32"), Origin: "cscli", Scenario: "manual", Until: now.Add(time.Hour), ID: 3},
		{Prefix: netip.MustParsePrefix("2001:db8:7::/48"), Origin: "sipprot/pbx2", Scenario: "sipprot/failures", Until: now.Add(time.Minute), ID: 4},
		{Prefix: netip.MustParsePrefix("198.51.100.9/32"), Origin: "crowdsec", Scenario: "x", Until: now.Add(-time.Second), ID: 5},
	}
	if err := Save(dir, ds); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, now)
	if err != nil || len(got) != 2 || got[0] != ds[0] || got[1] != ds[1] {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if got, err := Load(t.TempDir(), now); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, SavedFile), []byte(`[{"prefix":"203.0.113.5/32"`), 0o600)
	if _, err := Load(dir, now); err == nil || !strings.Contains(err.Error(), SavedFile) {
		t.Fatalf("corrupt file: %v", err)
	}
}
