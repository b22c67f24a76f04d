package geoip

import (
	"net/netip"
	"testing"

	"github.com/sipprot/sipprot/geoip/geoiptest"
)

// FuzzOpenBytes opens arbitrary bytes as a database, as an update would a
// download: it must refuse or open, never panic, and an opened database
// must answer lookups, also without panicking. The seeds are small
// databases of every layout, so mutations reach past the metadata.
func FuzzOpenBytes(f *testing.F) {
	nets := geoiptest.Nets("192.0.2.0/25=FR", "192.0.2.128/25=de", "2001:db8::/32=US")
	for _, d := range []geoiptest.DB{
		{Layout: geoiptest.GeoIP2, Networks: nets},
		{Layout: geoiptest.Flat, Networks: nets},
		{Layout: geoiptest.Flat, IPVersion: 4, Networks: geoiptest.Nets("192.0.2.0/24=FR")},
		{Layout: geoiptest.ASN, Networks: geoiptest.Nets("192.0.2.0/24=Example")},
	} {
		f.Add(geoiptest.MustBytes(f, d))
	}
	f.Add([]byte("\xAB\xCD\xEFMaxMind.com"))
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.200"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::1"), netip.MustParseAddr("255.255.255.255"),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := OpenBytes(b)
		if err != nil {
			return
		}
		for _, a := range addrs {
			if c, ok := db.Country(a); ok != (c != "") || ok && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
				t.Fatalf("Country(%s) = %q, %v", a, c, ok)
			}
		}
		if in := db.Info(); in.Layout != LayoutGeoIP2 && in.Layout != LayoutFlat {
			t.Fatalf("layout %q", in.Layout)
		}
	})
}
