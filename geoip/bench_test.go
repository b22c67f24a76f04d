package geoip

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/sipprot/sipprot/geoip/geoiptest"
)

// benchDB is a database the size of a real country database's busy part:
// 131,072 IPv4 /24s and 16,384 IPv6 /48s over 200 countries, in the
// GeoLite2 layout with names, so lookups walk a deep tree and records are
// as large as real ones.
var benchDB = sync.OnceValues(func() ([]byte, error) {
	var nets []geoiptest.Network
	cc := func(i int) string { return string([]byte{'A' + byte(i%200/26), 'A' + byte(i%200%26)}) }
	for i := range 1 << 17 {
		nets = append(nets, geoiptest.Network{CIDR: fmt.Sprintf("%d.%d.%d.0/24", 1+i>>16, i>>8&255, i&255), Code: cc(i)})
	}
	for i := range 1 << 14 {
		nets = append(nets, geoiptest.Network{CIDR: fmt.Sprintf("2001:db8:%x::/48", i), Code: cc(i * 7)})
	}
	return geoiptest.DB{Networks: nets}.Bytes()
})

func openBench(b *testing.B) (*DB, []byte) {
	b.Helper()
	raw, err := benchDB()
	if err != nil {
		b.Fatal(err)
	}
	db, err := OpenBytes(raw)
	if err != nil {
		b.Fatal(err)
	}
	return db, raw
}

// benchAddrs are distinct sources, far more than the address cache holds,
// so each lookup walks the tree.
func benchAddrs(v6 bool) []netip.Addr {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, 1<<16)
	for i := range out {
		if v6 {
			out[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(64)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
		} else {
			out[i] = netip.AddrFrom4([4]byte{1 + byte(r.IntN(2)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
	}
	return out
}

// BenchmarkLookup: a new source, not in the address cache (the target is
// under 500 ns).
func BenchmarkLookup(b *testing.B) {
	db, _ := openBench(b)
	for _, fam := range []string{"ipv4", "ipv6"} {
		addrs := benchAddrs(fam == "ipv6")
		b.Run(fam, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := db.Country(addrs[i&(len(addrs)-1)]); !ok {
					b.Fatal("unknown address")
				}
				i++
			}
		})
	}
}

// BenchmarkLookupCold: nothing cached at all, record decoded every time
// (the first packet after an update).
func BenchmarkLookupCold(b *testing.B) {
	db, _ := openBench(b)
	addrs := benchAddrs(false)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := addrs[i&(len(addrs)-1)]
		i++
		res := db.r.Lookup(a)
		var s string
		if err := res.DecodePath(&s, db.path...); err != nil || s == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkRepeated: the same source again, the flood case (the target is
// under 50 ns and no allocation).
func BenchmarkRepeated(b *testing.B) {
	db, _ := openBench(b)
	s := NewStore(Config{})
	s.cur.Store(db)
	for _, tt := range []struct {
		name string
		l    interface {
			Country(netip.Addr) (string, bool)
		}
		addr string
	}{
		{"db/ipv4", db, "1.2.3.4"},
		{"db/ipv6", db, "2001:db8:12::1"},
		{"store/ipv4", s, "1.2.3.4"},
		{"store/ipv6", s, "2001:db8:12::1"},
	} {
		a := netip.MustParseAddr(tt.addr)
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := tt.l.Country(a); !ok {
					b.Fatal("unknown address")
				}
			}
		})
	}
}

// BenchmarkRepeatedParallel: every queue goroutine on a few sources.
func BenchmarkRepeatedParallel(b *testing.B) {
	db, _ := openBench(b)
	addrs := benchAddrs(false)[:64]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			db.Country(addrs[i&63])
			i++
		}
	})
}

// BenchmarkGeoIP2Country is geoip2-golang's Country on the same database,
// for comparison: it decodes the whole record, names included.
func BenchmarkGeoIP2Country(b *testing.B) {
	_, raw := openBench(b)
	r, err := geoip2.OpenBytes(raw)
	if err != nil {
		b.Fatal(err)
	}
	addrs := benchAddrs(false)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec, err := r.Country(addrs[i&(len(addrs)-1)])
		if err != nil || rec.Country.ISOCode == "" {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkOpen: verifying and probing a database, once per update.
func BenchmarkOpen(b *testing.B) {
	_, raw := openBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenBytes(raw); err != nil {
			b.Fatal(err)
		}
	}
}
