package geoip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
)

var (
	jan = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feb = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	dec = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
)

var (
	probeV4 = netip.MustParseAddr("192.0.2.1")
	probeV6 = netip.MustParseAddr("2001:db8::1")
)

// countryDB is a database placing the probe addresses in cc.
func countryDB(t testing.TB, cc string, built time.Time) []byte {
	t.Helper()
	return geoiptest.MustBytes(t, geoiptest.DB{Built: built,
		Networks: geoiptest.Nets("192.0.2.0/24="+cc, "2001:db8::/32="+cc)})
}

// newStore returns a store whose database file is in a fresh directory
// and holds db (nil: no file), loaded.
func newStore(t *testing.T, url string, db []byte, opts ...Option) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "country.mmdb")
	if db != nil {
		if err := os.WriteFile(path, db, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := NewStore(Config{Database: path, UpdateURL: url, UpdateEvery: 24 * time.Hour}, opts...)
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantCountry checks both probe addresses.
func wantCountry(t *testing.T, s *Store, cc string) {
	t.Helper()
	for _, a := range []netip.Addr{probeV4, probeV6} {
		got, ok := s.Country(a)
		if got != cc || ok != (cc != "") {
			t.Errorf("Country(%s) = %q, %v; want %q", a, got, ok, cc)
		}
	}
}

// wantFile checks the database file holds b and no temp file was left.
func wantFile(t *testing.T, s *Store, b []byte) {
	t.Helper()
	got, err := os.ReadFile(s.cfg.Database)
	if err != nil || !bytes.Equal(got, b) {
		t.Errorf("database file changed (%d bytes, err %v)", len(got), err)
	}
	ents, _ := os.ReadDir(filepath.Dir(s.cfg.Database))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarGz builds an archive like MaxMind's: a dated directory holding
// COPYRIGHT.txt, LICENSE.txt and the database.
func tarGz(t testing.TB, files map[string][]byte, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "GeoLite2-Country_20260201/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, name := range order {
		b := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "GeoLite2-Country_20260201/" + name, Typeflag: tar.TypeReg,
			Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz(t, buf.Bytes())
}

func maxmindTarGz(t testing.TB, db []byte) []byte {
	return tarGz(t, map[string][]byte{
		"COPYRIGHT.txt":         []byte("Database and Contents Copyright (c) MaxMind, Inc.\n"),
		"LICENSE.txt":           []byte("Use of this MaxMind product is governed by ...\n"),
		"GeoLite2-Country.mmdb": db,
	}, "COPYRIGHT.txt", "LICENSE.txt", "GeoLite2-Country.mmdb")
}
