package geoip

import (
	"bytes"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/policy"
)

var _ policy.CountryLookup = (*DB)(nil)
var _ policy.CountryLookup = (*Store)(nil)

// testNets covers IPv4 and IPv6, nested networks and gaps.
var testNets = geoiptest.Nets(
	"192.0.2.0/24=FR",
	"192.0.2.128/25=DE",
	"198.51.100.0/24=cn",
	"2001:db8::/32=US",
	"2001:db8:bad::/48=RU",
)

func TestDBCountry(t *testing.T) {
	layouts := []struct {
		name   string
		db     geoiptest.DB
		layout string
	}{
		{"geolite2", geoiptest.DB{Layout: geoiptest.GeoIP2, Networks: testNets}, LayoutGeoIP2},
		{"dbip lite", geoiptest.DB{Layout: geoiptest.GeoIP2, Type: "DBIP-Country-Lite", Networks: testNets}, LayoutGeoIP2},
		{"ip-location-db", geoiptest.DB{Layout: geoiptest.Flat, Networks: testNets}, LayoutFlat},
		// An empty description map is legal metadata that real databases
		// ship (ip-location-db's do); the library's verifier alone refuses it.
		{"ip-location-db empty description", geoiptest.DB{Layout: geoiptest.Flat, Type: "geo-whois-asn-country",
			Networks: testNets, Description: map[string]string{}}, LayoutFlat},
		{"geolite2 empty description", geoiptest.DB{Layout: geoiptest.GeoIP2, Networks: testNets,
			Description: map[string]string{}}, LayoutGeoIP2},
	}
	lookups := []struct {
		addr string
		want string
		ok   bool
	}{
		{"192.0.2.1", "FR", true},
		{"192.0.2.200", "DE", true},
		{"198.51.100.9", "CN", true}, // stored lower-case, returned upper-case
		{"::ffff:192.0.2.1", "FR", true},
		{"2001:db8::1", "US", true},
		{"2001:db8:bad::7", "RU", true},
		{"2001:db8:bad::7%eth0", "RU", true},
		{"203.0.113.1", "", false},
		{"2001:db9::1", "", false},
		{"::", "", false},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			db, err := OpenBytes(geoiptest.MustBytes(t, l.db))
			if err != nil {
				t.Fatal(err)
			}
			if got := db.Info().Layout; got != l.layout {
				t.Errorf("layout %q, want %q", got, l.layout)
			}
			for range 2 { // the second round comes from the cache
				for _, tt := range lookups {
					got, ok := db.Country(netip.MustParseAddr(tt.addr))
					if got != tt.want || ok != tt.ok {
						t.Errorf("Country(%s) = %q, %v; want %q, %v", tt.addr, got, ok, tt.want, tt.ok)
					}
				}
			}
			if got, ok := db.Country(netip.Addr{}); ok || got != "" {
				t.Errorf("Country(zero Addr) = %q, %v", got, ok)
			}
		})
	}
}

func TestDBIPv4Only(t *testing.T) {
	db, err := OpenBytes(geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.Flat, IPVersion: 4,
		Networks: geoiptest.Nets("192.0.2.0/24=FR")}))
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Info().IPVersion; got != 4 {
		t.Errorf("IPVersion %d, want 4", got)
	}
	if c, ok := db.Country(netip.MustParseAddr("192.0.2.1")); c != "FR" || !ok {
		t.Errorf("IPv4 lookup = %q, %v", c, ok)
	}
	if c, ok := db.Country(netip.MustParseAddr("2001:db8::1")); ok {
		t.Errorf("IPv6 lookup in an IPv4 database = %q, want unknown", c)
	}
}

func TestDBInfo(t *testing.T) {
	built := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b := geoiptest.MustBytes(t, geoiptest.DB{Built: built, Networks: testNets})
	db, err := OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	in := db.Info()
	if in.Type != "GeoLite2-Country" || !in.BuildDate.Equal(built) || in.IPVersion != 6 ||
		in.NodeCount == 0 || in.Size != int64(len(b)) || len(in.SHA256) != 64 {
		t.Errorf("Info = %+v", in)
	}
}

func TestOpenRefuses(t *testing.T) {
	good := geoiptest.MustBytes(t, geoiptest.DB{Networks: testNets})
	tests := []struct {
		name    string
		b       []byte
		wantErr string
		is      error
	}{
		{"empty", nil, "not a MaxMind database", nil},
		{"text", []byte("<html>404 not found</html>"), "not a MaxMind database", nil},
		{"truncated", good[:len(good)/2], "not a MaxMind database", nil},
		{"corrupt tree", corruptTree(good), "corrupt MaxMind database", nil},
		// The empty description is excused, nothing else is.
		{"corrupt tree, empty description", corruptTree(geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.Flat,
			Networks: testNets, Description: map[string]string{}})), "corrupt MaxMind database: the MaxMind DB file's search tree is corrupt", nil},
		{"truncated data, empty description", truncateData(geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.Flat,
			Networks: testNets, Description: map[string]string{}})), "corrupt MaxMind database", nil},
		{"asn", geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.ASN, Networks: geoiptest.Nets("192.0.2.0/24=Example")}),
			`database type "GeoLite2-ASN" holds no country data`, ErrNoCountryData},
		{"no networks", geoiptest.MustBytes(t, geoiptest.DB{}), "holds no country data", ErrNoCountryData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := OpenBytes(tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("OpenBytes = %v, %v; want error containing %q", db, err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// corruptTree overwrites the start of the search tree, keeping the
// metadata intact, so the file opens but fails verification.
func corruptTree(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := range 64 {
		c[i] = 0xff
	}
	return c
}

// truncateData zeroes the data section's records just after the
// separator, keeping the tree and the metadata, so only the data check can
// refuse it.
func truncateData(b []byte) []byte {
	c := append([]byte(nil), b...)
	m := bytes.LastIndex(c, []byte("\xab\xcd\xefMaxMind.com"))
	sep := bytes.Index(c, make([]byte, 16))
	for i := sep + 16; i < m && i < sep+16+8; i++ {
		c[i] = 0xff
	}
	return c
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	geoiptest.Write(t, path, geoiptest.DB{Networks: testNets})
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Country(netip.MustParseAddr("192.0.2.1")); c != "FR" {
		t.Errorf("Country = %q", c)
	}
	if _, err := Open(filepath.Join(dir, "absent.mmdb")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

// Addresses that collide in the cache must each get their own answer.
func TestCacheCollisions(t *testing.T) {
	db, err := OpenBytes(geoiptest.MustBytes(t, geoiptest.DB{Networks: geoiptest.Nets(
		"10.0.0.0/9=FR", "10.128.0.0/9=DE")}))
	if err != nil {
		t.Fatal(err)
	}
	// 20,000 addresses over 4096 slots: every slot is reused many times.
	for round := range 2 {
		for i := range 20000 {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(round)})
			if i%2 == 1 {
				a = netip.AddrFrom4([4]byte{10, 128 | byte(i>>8), byte(i), byte(round)})
			}
			want := "FR"
			if a.As4()[1]&128 != 0 {
				want = "DE"
			}
			if got, ok := db.Country(a); got != want || !ok {
				t.Fatalf("Country(%s) = %q, %v; want %q", a, got, ok, want)
			}
		}
	}
}

func TestParseCode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{{"fr", "FR"}, {"Fr", "FR"}, {"ZZ", "ZZ"}, {"", ""}, {"F", ""}, {"FRA", ""}, {"F1", ""}, {"É", ""}} {
		if got, _ := codeString(parseCode(tt.in)); got != tt.want {
			t.Errorf("parseCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m",
		90 * time.Second: "1m30s", 30 * time.Second: "30s", 0: "0s", 1500 * time.Millisecond: "1.5s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// The verdict path must not allocate: neither a repeated source nor a new
// one whose record was seen before.
func TestNoAllocs(t *testing.T) {
	db, err := OpenBytes(geoiptest.MustBytes(t, geoiptest.DB{Networks: testNets}))
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(Config{})
	s.cur.Store(db)
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	db.Country(v4)
	db.Country(v6)
	if n := testing.AllocsPerRun(1000, func() { s.Country(v4); s.Country(v6) }); n != 0 {
		t.Errorf("repeated source: %v allocs", n)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		s.Country(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
		s.Country(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
	}); n != 0 {
		t.Errorf("new sources: %v allocs", n)
	}
}
