package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/manage"
)

var geoFeb = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

// geoipConfig writes a config whose database lives in a fresh directory
// and downloads from url.
func geoipConfig(t *testing.T, url, extra string) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "country.mmdb")
	cfgPath = writeFile(t, fmt.Sprintf("[sip]\n%s\n[geoip]\ndatabase = %q\nupdate_url = %q\n[admin]\nsocket = %q\n",
		extra, dbPath, url, filepath.Join(dir, "sipprot.sock")))
	return cfgPath, dbPath
}

func TestGeoIPUpdate(t *testing.T) {
	db := geoiptest.MustBytes(t, geoiptest.DB{Built: geoFeb, Networks: geoiptest.Nets("192.0.2.0/24=FR")})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/country.mmdb" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"feb"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(db))
	}))
	defer srv.Close()
	cfg, path := geoipConfig(t, srv.URL+"/country.mmdb", "")

	out, _, err := runCLI(t, "geoip", "update", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("updated: GeoLite2-Country built 2026-02-01 (no database before), %s from %s/country.mmdb\n"+
		"written to %s\nsipprot is not running (no daemon on %s): the daemon loads it when it starts\n",
		sizeString(int64(len(db))), srv.URL, path, filepath.Join(filepath.Dir(path), "sipprot.sock"))
	if out != want {
		t.Errorf("first update printed\n%s\nwant\n%s", out, want)
	}
	out, _, err = runCLI(t, "geoip", "update", "--config", cfg)
	if err != nil || out != "unchanged: not modified since the last download (GeoLite2-Country built 2026-02-01)\n" {
		t.Errorf("second update: %q, %v", out, err)
	}

	bad, _ := geoipConfig(t, srv.URL+"/missing.mmdb", "")
	_, _, err = runCLI(t, "geoip", "update", "--config", bad)
	wantErr := "geoip update failed: update from " + srv.URL + "/missing.mmdb: server answered 404 Not Found; no database is in use"
	if err == nil || err.Error() != wantErr {
		t.Errorf("failed update: %v\nwant %s", err, wantErr)
	}

	none := writeFile(t, "[geoip]\ndatabase = \""+filepath.Join(t.TempDir(), "c.mmdb")+"\"\n")
	if _, _, err := runCLI(t, "geoip", "update", "--config", none); err == nil || !strings.Contains(err.Error(), "no geoip.update_url configured") {
		t.Errorf("update without url: %v", err)
	}
}

// A corrupt file is warned about and replaced.
func TestGeoIPUpdateRepairs(t *testing.T) {
	db := geoiptest.MustBytes(t, geoiptest.DB{Built: geoFeb, Networks: geoiptest.Nets("192.0.2.0/24=FR")})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(db) }))
	defer srv.Close()
	cfg, path := geoipConfig(t, srv.URL, "")
	os.WriteFile(path, []byte("garbage"), 0o644)
	out, stderr, err := runCLI(t, "geoip", "update", "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "updated: ") || !strings.Contains(stderr, "warning: geoip: "+path+": not a MaxMind database") {
		t.Errorf("update over a corrupt file: %q, %q, %v", out, stderr, err)
	}
}

func TestGeoIPStatus(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	cfg, path := geoipConfig(t, srv.URL+"/db", `blocked_countries = ["CN", "ru"]`)

	// No database yet.
	out, _, err := runCLI(t, "geoip", "status", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"file:         " + path + "\n",
		"database:     none: " + path + " does not exist\n",
		"countries:    CN, RU configured but NOT ENFORCED: no usable GeoIP database\n",
		"next update:  due now (every 24h, from " + srv.URL + "/db)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status without database lacks %q:\n%s", want, out)
		}
	}

	geoiptest.Write(t, path, geoiptest.DB{Built: geoFeb, Networks: geoiptest.Nets("192.0.2.0/24=FR")})
	mtime := time.Now().Add(-time.Hour)
	os.Chtimes(path, mtime, mtime)
	out, _, err = runCLI(t, "geoip", "status", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := mtime.Add(24 * time.Hour).Local().Format(time.DateTime)
	for _, want := range []string{
		"database:     GeoLite2-Country (country.iso_code), IPv4 and IPv6, ",
		"built:        2026-02-01\n",
		"source:       " + path + "\n",
		"countries:    CN, RU blocked\n",
		"next update:  " + next + " (every 24h, from " + srv.URL + "/db)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// A failed update shows in the status.
	runCLI(t, "geoip", "update", "--config", cfg)
	out, _, _ = runCLI(t, "geoip", "status", "--config", cfg)
	if !strings.Contains(out, " failed: update from "+srv.URL+"/db: server answered 404 Not Found\n") {
		t.Errorf("status after a failed update:\n%s", out)
	}

	out, _, err = runCLI(t, "geoip", "status", "--json", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var st geoip.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if !st.Usable || st.Database == nil || st.Database.Type != "GeoLite2-Country" || !st.Database.BuildDate.Equal(geoFeb) ||
		st.LastResult != "failed" || st.File != path || st.UpdateEvery != "24h" {
		t.Errorf("JSON status %+v", st)
	}
	for _, key := range []string{`"usable"`, `"file"`, `"database"`, `"build_date"`, `"source"`, `"last_attempt"`, `"next_update"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s:\n%s", key, out)
		}
	}
}

func TestGeoIPStatusNoURL(t *testing.T) {
	cfg := writeFile(t, "[geoip]\ndatabase = \""+filepath.Join(t.TempDir(), "c.mmdb")+"\"\n")
	out, _, err := runCLI(t, "geoip", "status", "--config", cfg)
	if err != nil || !strings.Contains(out, "does not exist; no geoip.update_url to download it from\n") ||
		!strings.Contains(out, "next update:  none (no geoip.update_url)\n") || strings.Contains(out, "countries:") {
		t.Errorf("status: %v\n%s", err, out)
	}
}

func TestGeoIPStatusLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	c := conf.Defaults()
	c.GeoIP.Database, c.State.Dir, c.Admin.Socket = path, dir, filepath.Join(dir, "none.sock")
	c.Lists.Allow, c.Lists.Deny = filepath.Join(dir, "allowlist"), filepath.Join(dir, "denylist")
	svc := manage.New(manage.Options{Config: func() (*conf.Config, error) { return c, nil }})
	line := func() string {
		t.Helper()
		st, err := svc.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.GeoIP == nil {
			return ""
		}
		return geoIPStatusLine(*st.GeoIP, st.Countries)
	}
	if got := line(); got != "" {
		t.Errorf("without countries: %q", got)
	}
	c.SIP.BlockedCountries = []conf.Country{"CN"}
	if got := line(); got != "countries: CN configured but NOT ENFORCED: no usable GeoIP database ("+path+" does not exist; no geoip.update_url to download it from)" {
		t.Errorf("without database: %q", got)
	}
	geoiptest.Write(t, path, geoiptest.DB{Built: geoFeb, Networks: geoiptest.Nets("192.0.2.0/24=FR")})
	if got := line(); got != "countries: CN blocked (GeoLite2-Country built 2026-02-01)" {
		t.Errorf("with database: %q", got)
	}
}
