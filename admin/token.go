package admin

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// TokenFile is the name, in the state directory, of the page's login
// secret.
const TokenFile = "admin.token"

// tokenBytes is the secret's size: 256 bits, beyond any guessing.
const tokenBytes = 32

// TokenPath returns where the login secret of config c lives.
func TokenPath(c *conf.Config) string { return filepath.Join(c.State.Dir, TokenFile) }

// EnsureToken returns the login secret kept in the file at path, creating
// it (a random 32-byte secret, base64url, mode 0600; its directory 0700
// if missing) when there is none. created says it was made just now. A
// file that others may read is refused rather than used: the secret in it
// may have leaked.
func EnsureToken(path string) (token string, created bool, err error) {
	tok, err := readToken(path)
	if err == nil {
		return tok, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand panics instead)
	tok = base64.RawURLEncoding.EncodeToString(b)
	// Written under a temporary name, then linked into place: a second
	// process starting at the same time either wins or reads the winner's
	// complete file, never a half-written one.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			tok, err := readToken(path)
			return tok, false, err
		}
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return tok, true, nil
}

// readToken reads the secret from path; an error wrapping fs.ErrNotExist
// means there is none yet.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("admin token: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin token: %s is readable by others (mode %04o): delete it and `sipprot admin token` makes a new secret", path, fi.Mode().Perm())
	}
	b := make([]byte, 1024)
	n, _ := f.Read(b)
	tok := strings.TrimSpace(string(b[:n]))
	if len(tok) < 16 {
		return "", fmt.Errorf("admin token: %s holds no usable secret: delete it and `sipprot admin token` makes a new one", path)
	}
	return tok, nil
}
