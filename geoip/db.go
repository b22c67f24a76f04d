// Package geoip maps source addresses to countries for the country rule,
// from a MaxMind-format country database (GeoLite2-Country, DB-IP lite
// country, ip-location-db country), and keeps that database up to date:
// downloads, checks and swaps it in while verdicts keep flowing.
//
// A DB is one opened database, immutable, with a small cache in front of
// it; a Store holds the DB in use behind an atomic pointer and replaces it
// on update.
package geoip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// ErrNoCountryData means the file is a valid MaxMind database but its
// records hold no country code (an ASN or ISP database, say).
var ErrNoCountryData = errors.New("holds no country data")

// Layouts: where a database's records keep the country code.
const (
	LayoutGeoIP2 = "country.iso_code" // GeoLite2, GeoIP2, DB-IP lite
	LayoutFlat   = "country_code"     // ip-location-db
)

// probeLimit bounds how many networks Open examines looking for a country
// code, so refusing a large non-country database stays fast.
const probeLimit = 10000

// Info describes a database.
type Info struct {
	Type      string    `json:"type"`       // metadata database_type, "GeoLite2-Country"
	Layout    string    `json:"layout"`     // LayoutGeoIP2 or LayoutFlat
	BuildDate time.Time `json:"build_date"` // metadata build_epoch, UTC
	IPVersion int       `json:"ip_version"` // 4: IPv4 only; 6: both
	NodeCount int       `json:"node_count"`
	Size      int64     `json:"size"`   // bytes
	SHA256    string    `json:"sha256"` // of the file, hex
}

// DB is an opened country database. It is safe for concurrent use and never
// changes; a new database is a new DB.
type DB struct {
	r     *maxminddb.Reader
	info  Info
	path  []any // decode path of the country code
	addrs *addrCache
	offs  *offsetCache
}

// Open reads and opens the database file at path.
func Open(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	db, err := OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// OpenBytes opens a database held in b, which it keeps: the caller must not
// modify b afterwards. The database is read from memory, not mapped, so a
// replaced DB needs no Close and stays valid for lookups still running on
// it while the garbage collector has not freed it.
//
// The whole file is verified and its records must hold country codes; a
// corrupt database or one of another kind is refused here rather than
// failing lookups later.
func OpenBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("not a MaxMind database: %w", err)
	}
	if err := verify(r); err != nil {
		return nil, fmt.Errorf("corrupt MaxMind database: %w", err)
	}
	md := r.Metadata
	layout, err := detectLayout(r)
	if err != nil {
		return nil, fmt.Errorf("database type %q %w", md.DatabaseType, err)
	}
	sum := sha256.Sum256(b)
	db := &DB{
		r: r,
		info: Info{
			Type:      md.DatabaseType,
			Layout:    layout,
			BuildDate: md.BuildTime().UTC(),
			IPVersion: int(md.IPVersion),
			NodeCount: int(md.NodeCount),
			Size:      int64(len(b)),
			SHA256:    hex.EncodeToString(sum[:]),
		},
		addrs: new(addrCache),
		offs:  new(offsetCache),
	}
	if layout == LayoutFlat {
		db.path = []any{"country_code"}
	} else {
		db.path = []any{"country", "iso_code"}
	}
	return db, nil
}

// verify runs the library's full check of metadata, search tree and data
// section. That check demands a non-empty description map, which the
// MaxMind DB format does not: ip-location-db and others ship an empty one.
// The placeholder stands in for that one test only, on a Reader nobody else
// holds yet, so every other check still runs.
func verify(r *maxminddb.Reader) error {
	if len(r.Metadata.Description) == 0 {
		desc := r.Metadata.Description
		r.Metadata.Description = map[string]string{"": "-"}
		defer func() { r.Metadata.Description = desc }()
	}
	return r.Verify()
}

// detectLayout finds the first record that holds a country code, by
// content rather than by database_type: ip-location-db and DB-IP name their
// types freely.
func detectLayout(r *maxminddb.Reader) (string, error) {
	n := 0
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return "", fmt.Errorf("unreadable: %w", err)
		}
		var code string
		if res.DecodePath(&code, "country", "iso_code") == nil && parseCode(code) != 0 {
			return LayoutGeoIP2, nil
		}
		if res.DecodePath(&code, "country_code") == nil && parseCode(code) != 0 {
			return LayoutFlat, nil
		}
		if n++; n == probeLimit {
			break
		}
	}
	return "", fmt.Errorf("%w (no country.iso_code or country_code in its records)", ErrNoCountryData)
}

// Info describes the database.
func (db *DB) Info() Info { return db.info }

// Country returns the upper-case ISO 3166 alpha-2 code of a's country, or
// false when the database does not know a. It implements
// policy.CountryLookup. IPv4-mapped IPv6 addresses are looked up as IPv4.
//
// A repeated address is answered from a small cache without touching the
// database; neither path allocates.
func (db *DB) Country(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	a = a.Unmap()
	hi, lo := addrKey(a)
	if c, ok := db.addrs.get(hi, lo); ok {
		return codeString(c)
	}
	c := db.lookup(a)
	db.addrs.put(hi, lo, c)
	return codeString(c)
}

// lookup walks the tree and decodes the record's country code, through the
// offset cache: a country database has few distinct records, shared by
// many networks.
func (db *DB) lookup(a netip.Addr) code {
	res := db.r.Lookup(a)
	if !res.Found() {
		return 0
	}
	off := uint64(res.Offset())
	if c, ok := db.offs.get(off); ok {
		return c
	}
	var s string
	if err := res.DecodePath(&s, db.path...); err != nil {
		// A verified database decodes; a record of the wrong shape is
		// simply a record without a country.
		s = ""
	}
	c := parseCode(s)
	db.offs.put(off, c)
	return c
}
