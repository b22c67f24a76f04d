package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// realDir holds real country databases from the npm registry, fetched by
// `make testdata-geoip` (which .ci/run calls); they are not checked in.
func realDir() string {
	if d := os.Getenv("SIPPROT_GEOIP_REAL"); d != "" {
		return d
	}
	return filepath.Join("..", "testdata", "geoip-real")
}

// TestRealDatabases opens ip-location-db's published country databases,
// which ship an empty description map, and looks up well-known addresses.
func TestRealDatabases(t *testing.T) {
	files := []string{"geo-whois-asn-country.mmdb", "iptoasn-country.mmdb", "geolite2-country.mmdb", "dbip-country.mmdb"}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(realDir(), f)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("SKIPPED: real database %s absent (run `make testdata-geoip`, which needs the npm registry): %v", path, err)
			}
			db, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if db.Info().Layout != LayoutFlat {
				t.Errorf("layout %q, want %q", db.Info().Layout, LayoutFlat)
			}
			if got, ok := db.Country(netip.MustParseAddr("8.8.8.8")); got != "US" || !ok {
				t.Errorf("Country(8.8.8.8) = %q, %v; want US", got, ok)
			}
			// The sources disagree on where Google's IPv6 resolver is; each
			// must place it somewhere.
			if got, ok := db.Country(netip.MustParseAddr("2001:4860:4860::8888")); len(got) != 2 || !ok {
				t.Errorf("Country(2001:4860:4860::8888) = %q, %v; want a country", got, ok)
			}
			if db.Info().IPVersion != 6 {
				t.Errorf("ip_version %d, want 6", db.Info().IPVersion)
			}
		})
	}
}
