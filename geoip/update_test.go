package geoip

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
)

// serve returns a test server running h; it releases handlers that wait
// on release before closing, so a hanging handler cannot hang the test.
func serve(t *testing.T, h http.HandlerFunc) (*httptest.Server, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv, release
}

func bytesHandler(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
}

func TestUpdateInstalls(t *testing.T) {
	v1 := countryDB(t, "FR", jan)
	v2 := countryDB(t, "DE", feb)
	flat := geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.Flat, Built: feb,
		Networks: geoiptest.Nets("192.0.2.0/24=DE", "2001:db8::/32=DE")})
	sameDay := countryDB(t, "DE", jan) // not older: same build date
	tests := []struct {
		name    string
		have    []byte // database file before; nil = none
		body    []byte // what the server sends
		account string // basic auth the server demands
		want    []byte // database file after
		prev    bool   // a database was in use before
	}{
		{"plain mmdb", v1, v2, "", v2, true},
		{"gzip", v1, gz(t, v2), "", v2, true},
		{"maxmind tar.gz with basic auth", v1, maxmindTarGz(t, v2), "12345", v2, true},
		{"ip-location-db layout", v1, flat, "", flat, true},
		{"same build date", v1, sameDay, "", sameDay, true},
		{"no database before", nil, v2, "", v2, false},
		{"corrupt file before", []byte("garbage"), v2, "", v2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.account != "" {
					if u, p, ok := r.BasicAuth(); !ok || u != tt.account || p != "secret-key" {
						http.Error(w, "unauthorized", http.StatusUnauthorized)
						return
					}
				}
				w.Write(tt.body)
			})
			path := filepath.Join(t.TempDir(), "country.mmdb")
			if tt.have != nil {
				os.WriteFile(path, tt.have, 0o644)
			}
			cfg := Config{Database: path, UpdateURL: srv.URL + "/download?suffix=tar.gz", UpdateEvery: time.Hour}
			if tt.account != "" {
				cfg.AccountID = tt.account
				cfg.LicenseKeyFile = filepath.Join(t.TempDir(), "key")
				os.WriteFile(cfg.LicenseKeyFile, []byte("secret-key\n"), 0o600)
			}
			s := NewStore(cfg)
			s.Load() // the corrupt file case fails here and updates anyway
			res, err := s.Update(context.Background())
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if res.Outcome != Updated || res.Bytes != int64(len(tt.body)) {
				t.Errorf("result %+v, want updated with %d bytes", res, len(tt.body))
			}
			if (res.Previous != nil) != tt.prev {
				t.Errorf("Previous = %v", res.Previous)
			}
			wantCountry(t, s, "DE")
			wantFile(t, s, tt.want)
			if !s.Usable() || s.Warning() != "" {
				t.Errorf("Usable %v, Warning %q", s.Usable(), s.Warning())
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("file mode %v, %v; want 0644", fi.Mode(), err)
			}
			st := s.Status()
			if st.LastResult != "updated" || st.Source != res.URL || st.Database == nil || st.Database.SHA256 != res.Info.SHA256 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// Every broken download leaves the database in use, and its file, as they
// were.
func TestUpdateFailuresKeepDatabase(t *testing.T) {
	v1 := countryDB(t, "FR", jan)
	v2 := countryDB(t, "DE", feb)
	small := Limits{MaxSize: 1 << 20, ConnectTimeout: 300 * time.Millisecond,
		StallTimeout: 300 * time.Millisecond, TotalTimeout: 5 * time.Second}
	zeros := make([]byte, 4<<20)
	tests := []struct {
		name    string
		h       func(release chan struct{}) http.HandlerFunc
		lim     Limits
		account string // "" or "missing" (no key file)
		wantErr string
		is      error
	}{
		{"corrupt file", static([]byte("this is not a database, it is an error page\n")), small,
			"", "downloaded file: not a MaxMind database", nil},
		{"corrupt search tree", static(corruptTree(v2)), small, "", "corrupt MaxMind database", nil},
		{"truncated download", func(chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(v2)))
				w.Write(v2[:len(v2)/2])
			}
		}, small, "", "unexpected EOF", nil},
		{"truncated gzip", static(gz(t, v2)[:len(gz(t, v2))/2]), small, "", "unexpected EOF", nil},
		{"asn database", static(geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.ASN, Built: feb,
			Networks: geoiptest.Nets("192.0.2.0/24=Example")})), small, "", "holds no country data", ErrNoCountryData},
		{"older build", static(countryDB(t, "DE", dec)), small, "", "older than the database in use", ErrOlder},
		{"hangs before headers", func(release chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}, small, "", "timed out: no answer within 300ms", ErrTimeout},
		{"stalls mid-body", func(release chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(v2)))
				w.Write(v2[:100])
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}, small, "", "download stalled: no data for 300ms", ErrStalled},
		{"drips past the total timeout", func(release chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(v2)))
				for i := range v2 {
					w.Write(v2[i : i+1])
					w.(http.Flusher).Flush()
					select {
					case <-release:
						return
					case <-r.Context().Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}, Limits{MaxSize: 1 << 20, ConnectTimeout: time.Second, StallTimeout: time.Second, TotalTimeout: 500 * time.Millisecond},
			"", "timed out: the update took over 500ms", ErrTimeout},
		{"oversized gzip", static(gz(t, zeros)), small, "", "unpacked download too large: over 1.0 MiB", ErrTooLarge},
		{"oversized plain download", static(zeros), small, "", "download too large: 4.0 MiB, over 1.0 MiB", ErrTooLarge},
		{"oversized download of unknown length", func(chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Write(zeros[:1<<19])
				w.(http.Flusher).Flush()
				w.Write(zeros)
			}
		}, small, "", "download too large: over 1.0 MiB", ErrTooLarge},
		{"oversized tar entry", static(tarGz(t, map[string][]byte{"GeoLite2-Country.mmdb": zeros}, "GeoLite2-Country.mmdb")),
			small, "", "too large", ErrTooLarge},
		{"archive without a database", static(tarGz(t, map[string][]byte{"README": []byte("hi")}, "README")),
			small, "", "the archive holds no .mmdb file", nil},
		{"not found", func(chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
		}, small, "", "server answered 404 Not Found", nil},
		{"wrong license key", func(chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "Invalid license key", http.StatusUnauthorized)
			}
		}, small, "12345", "server answered 401 Unauthorized; check geoip.account_id and the license key", nil},
		{"license key file missing", static(v2), small, "missing", "license key: open", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(tt.h(release))
			t.Cleanup(func() { close(release); srv.Close() })
			s := newStore(t, srv.URL+"/country.mmdb", v1, WithLimits(tt.lim))
			switch tt.account {
			case "missing":
				s.cfg.AccountID, s.cfg.LicenseKeyFile = "12345", filepath.Join(t.TempDir(), "absent")
			case "":
			default:
				s.cfg.AccountID, s.cfg.LicenseKeyFile = tt.account, filepath.Join(t.TempDir(), "key")
				os.WriteFile(s.cfg.LicenseKeyFile, []byte("wrong"), 0o600)
			}
			res, err := s.Update(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Update = %v, %v; want error containing %q", res, err, tt.wantErr)
			}
			t.Log(err)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the URL", err)
			}
			wantCountry(t, s, "FR")
			wantFile(t, s, v1)
			st := s.Status()
			if st.LastResult != "failed" || st.LastError != err.Error() || !st.Usable {
				t.Errorf("status %+v", st)
			}
			if saved := readState(s.statePath()); saved.Result != "failed" {
				t.Errorf("saved state %+v", saved)
			}
		})
	}
}

func static(b []byte) func(chan struct{}) http.HandlerFunc {
	return func(chan struct{}) http.HandlerFunc { return bytesHandler(b) }
}

// Conditional requests: an unchanged database is not downloaded again,
// also by a new process that only has the sidecar file.
func TestUpdateConditional(t *testing.T) {
	v2 := countryDB(t, "DE", feb)
	modTime := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		etag     string
		lastMod  bool
		wantHdr  string
		validate bool // server sends validators at all
	}{
		{"etag", `"v2-abc"`, false, "If-None-Match", true},
		{"if-modified-since", "", true, "If-Modified-Since", true},
		{"both", `"v2-abc"`, true, "If-None-Match", true},
		{"no validators", "", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var full, conditional atomic.Int32
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
					conditional.Add(1)
				}
				if tt.etag != "" {
					w.Header().Set("ETag", tt.etag)
				}
				mt := time.Time{}
				if tt.lastMod {
					mt = modTime
				}
				// ServeContent answers 304 to matching validators.
				http.ServeContent(w, r, "country.mmdb", mt, bytes.NewReader(v2))
				if w.Header().Get("Content-Length") != "" {
					full.Add(1)
				}
			})
			s := newStore(t, srv.URL+"/country.mmdb", countryDB(t, "FR", jan))
			if res, err := s.Update(context.Background()); err != nil || res.Outcome != Updated {
				t.Fatalf("first Update = %v, %v", res, err)
			}
			res, err := s.Update(context.Background())
			if err != nil || res.Outcome != Unchanged {
				t.Fatalf("second Update = %v, %v; want unchanged", res, err)
			}
			wantReason := "not modified since the last download"
			if !tt.validate {
				wantReason = "same database as the one in use"
			}
			if res.Reason != wantReason {
				t.Errorf("reason %q, want %q", res.Reason, wantReason)
			}
			if !strings.HasPrefix(res.String(), "unchanged: "+wantReason) {
				t.Errorf("String() = %q", res.String())
			}
			// A new process: only the file and its sidecar.
			s2 := NewStore(s.cfg)
			if err := s2.Load(); err != nil {
				t.Fatal(err)
			}
			if st := s2.Status(); st.Source != srv.URL+"/country.mmdb" || st.LastResult != "unchanged" {
				t.Errorf("new process status %+v", st)
			}
			if res, err := s2.Update(context.Background()); err != nil || res.Outcome != Unchanged {
				t.Fatalf("new process Update = %v, %v; want unchanged", res, err)
			}
			wantCond := int32(2)
			if !tt.validate {
				wantCond = 0
			}
			if conditional.Load() != wantCond {
				t.Errorf("%d conditional requests, want %d", conditional.Load(), wantCond)
			}
			wantCountry(t, s2, "DE")
		})
	}
}

// Validators belong to the file they came with: once the file is replaced
// by hand, the next update downloads in full.
func TestUpdateValidatorsFollowFile(t *testing.T) {
	v2 := countryDB(t, "DE", feb)
	var conditional atomic.Int32
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			conditional.Add(1)
		}
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v2))
	})
	s := newStore(t, srv.URL, nil)
	if _, err := s.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	hand := countryDB(t, "IT", feb.Add(time.Hour))
	if err := os.WriteFile(s.cfg.Database, hand, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := NewStore(s.cfg)
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	wantCountry(t, s2, "IT")
	if st := s2.Status(); st.Source != s.cfg.Database {
		t.Errorf("source of a hand-placed file = %q, want the file", st.Source)
	}
	// The server's file is older than the one placed by hand.
	if _, err := s2.Update(context.Background()); !errors.Is(err, ErrOlder) {
		t.Errorf("Update = %v, want ErrOlder", err)
	}
	if conditional.Load() != 0 {
		t.Errorf("%d conditional requests with validators of another file", conditional.Load())
	}
	wantCountry(t, s2, "IT")
}

func TestUpdateNoURL(t *testing.T) {
	s := newStore(t, "", nil)
	if _, err := s.Update(context.Background()); !errors.Is(err, ErrNoURL) {
		t.Errorf("Update = %v, want ErrNoURL", err)
	}
}

func TestUpdateRefusesKeyOverPlainHTTP(t *testing.T) {
	s := newStore(t, "http://geo.example.com/db", nil)
	s.cfg.AccountID, s.cfg.LicenseKeyFile = "1", "/dev/null"
	_, err := s.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to send the license key over plain http") {
		t.Errorf("Update = %v", err)
	}
}

func TestUpdateProgress(t *testing.T) {
	v2 := countryDB(t, "DE", feb)
	srv, _ := serve(t, bytesHandler(v2))
	var out bytes.Buffer
	s := newStore(t, srv.URL, nil, WithProgress(&out))
	if _, err := s.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "downloading from 127.0.0.1") || !strings.Contains(got, "(100%)") || !strings.HasSuffix(got, "\n") {
		t.Errorf("progress %q", got)
	}
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://download.maxmind.com/geoip/databases/GeoLite2-Country/download?suffix=tar.gz",
			"https://download.maxmind.com/geoip/databases/GeoLite2-Country/download?suffix=tar.gz"},
		{"https://download.maxmind.com/app/geoip_download?edition_id=GeoLite2-Country&license_key=SECRET&suffix=tar.gz",
			"https://download.maxmind.com/app/geoip_download?edition_id=GeoLite2-Country&license_key=xxxxx&suffix=tar.gz"},
		{"https://user:SECRET@example.com/db.mmdb", "https://user:xxxxx@example.com/db.mmdb"},
	} {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
