package fleet

import (
	"errors"
	"fmt"
	"log/slog"
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
