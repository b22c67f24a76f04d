package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "admin.token")
	tok, created, err := EnsureToken(path)
	if err != nil || !created {
		t.Fatalf("first: %q %v %v", tok, created, err)
	}
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q: want 32 bytes, base64url", tok)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600 (%v)", fi.Mode(), err)
	}
	di, err := os.Stat(dir)
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("new directory mode %v, want 0700 (%v)", di.Mode(), err)
	}
	again, created, err := EnsureToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second: %q %v %v, want the same secret reused", again, created, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left files behind: %v", ents)
	}

	// A secret others can read may have leaked: refused, not used.
	os.Chmod(path, 0o644)
	if _, _, err := EnsureToken(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable token file: %v", err)
	}
	os.WriteFile(path, []byte("\n"), 0o600)
	os.Chmod(path, 0o600)
	if _, _, err := EnsureToken(path); err == nil {
		t.Error("an empty token file was accepted")
	}
}

func TestTokenPath(t *testing.T) {
	c := confDefaults()
	c.State.Dir = "/var/lib/sipprot"
	if got := TokenPath(c); got != "/var/lib/sipprot/admin.token" {
		t.Errorf("TokenPath = %q", got)
	}
}
