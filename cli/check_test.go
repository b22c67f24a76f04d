package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/policy"
)

func checkFixture(t *testing.T) *listFixture {
	f := newListFixture(t)
	f.write("allowlist", "# office\n192.0.2.0/24 office\n192.0.2.7 front desk\n")
	f.write("denylist", "# scanners\n203.0.113.0/24 scanners\n203.0.113.0/28 # #1 worst\n2001:db8:bad::/48\n")
	f.saveBlocks(
		policy.BlockState{Addr: netip.MustParseAddr("198.51.100.66"), Reason: policy.ReasonFailures, Active: true,
			Count: 2, Hits: 14, First: aWhileAgo, Last: aWhileAgo, Until: farFuture},
		policy.BlockState{Addr: netip.MustParseAddr("2001:db8::66"), Reason: policy.ReasonUserAgent, Active: true,
			Permanent: true, Count: 5, Hits: 300, First: aWhileAgo, Last: aWhileAgo},
		policy.BlockState{Addr: netip.MustParseAddr("198.51.100.67"), Reason: policy.ReasonFailures, Active: true,
			Count: 1, Hits: 3, First: aWhileAgo, Last: aWhileAgo, Until: aWhileAgo.Add(10 * time.Minute)}, // expired
		policy.BlockState{Addr: netip.MustParseAddr("192.0.2.7"), Reason: policy.ReasonFailures, Active: true,
			Count: 1, Hits: 1, First: aWhileAgo, Last: aWhileAgo, Until: farFuture},
		policy.BlockState{Addr: netip.MustParseAddr("203.0.113.5"), Reason: policy.ReasonUserAgent, Active: true,
			Permanent: true, Count: 5, Hits: 9, First: aWhileAgo, Last: aWhileAgo},
	)
	return f
}

var checkAddrs = []string{
	"192.0.2.7",           // allow (two entries) over a dynamic block
	"192.0.2.8",           // allow by network
	"203.0.113.5",         // deny (two networks) over a permanent block
	"203.0.113.200",       // deny
	"2001:db8:bad::1",     // deny, IPv6
	"198.51.100.66",       // dynamic, temporary
	"2001:db8::66",        // dynamic, permanent
	"198.51.100.67",       // expired block: none
	"::ffff:198.51.100.1", // none, mapped form
}

func TestCheckGolden(t *testing.T) {
	f := checkFixture(t)
	for _, a := range checkAddrs {
		f.run("check", a)
	}
	f.run("check", "192.0.2.0/24")
	f.run("check", "not-an-ip")
	f.run("check")
	f.golden("check")
}

func TestCheckJSONGolden(t *testing.T) {
	f := checkFixture(t)
	want := map[string]string{"192.0.2.7": "allow", "192.0.2.8": "allow", "203.0.113.5": "deny", "203.0.113.200": "deny",
		"2001:db8:bad::1": "deny", "198.51.100.66": "dynamic", "2001:db8::66": "dynamic", "198.51.100.67": "none",
		"::ffff:198.51.100.1": "none"}
	for _, a := range checkAddrs {
		var doc struct {
			Winner string `json:"winner"`
		}
		if err := json.Unmarshal([]byte(f.run("check", a, "--json")), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Winner != want[a] {
			t.Errorf("%s: winner %q, want %q", a, doc.Winner, want[a])
		}
	}
	f.golden("check_json")
}

// A bad list is an error naming its line, not a silent "none".
func TestCheckBadList(t *testing.T) {
	f := checkFixture(t)
	f.write("denylist", "203.0.113.0/24\nnonsense\n")
	f.run("check", "192.0.2.1")
	f.golden("check_bad_list")
}

// TestCheckCountry: with a usable database, check shows the country and
// names the country rule when it wins, after allow, deny and dynamic, as
// the engine does.
func TestCheckCountry(t *testing.T) {
	f := checkFixture(t)
	db := f.path("country.mmdb")
	geoiptest.Write(t, db, geoiptest.DB{Layout: geoiptest.Flat, Description: map[string]string{},
		Networks: geoiptest.Nets("203.0.113.0/24=FR", "198.51.100.0/24=FR", "192.0.2.0/24=FR", "2001:db8::/32=DE")})
	old, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.write("sipprot.conf", string(old)+fmt.Sprintf("[sip]\nblocked_countries = [\"FR\"]\n[geoip]\ndatabase = %q\n", db))
	tests := []struct{ addr, country, winner string }{
		{"192.0.2.8", "FR", "allow"},
		{"203.0.113.200", "FR", "deny"},
		{"198.51.100.66", "FR", "dynamic"},
		{"198.51.100.99", "FR", "country"},
		{"2001:db8::99", "DE", "none"},
	}
	for _, tt := range tests {
		var doc struct {
			Country        string `json:"country"`
			CountryBlocked bool   `json:"country_blocked"`
			Winner         string `json:"winner"`
		}
		if err := json.Unmarshal([]byte(f.run("check", tt.addr, "--json")), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Country != tt.country || doc.CountryBlocked != (tt.country == "FR") || doc.Winner != tt.winner {
			t.Errorf("%s: %+v, want country %s, winner %s", tt.addr, doc, tt.country, tt.winner)
		}
	}
	out := f.run("check", "198.51.100.99")
	if !strings.Contains(out, "country:  FR (in blocked_countries)\n") || !strings.Contains(out, "winner:   country (") {
		t.Errorf("check text:\n%s", out)
	}
}
