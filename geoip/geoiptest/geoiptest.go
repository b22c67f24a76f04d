// Package geoiptest writes small MaxMind-format databases for tests, in the
// record layouts sipprot reads: GeoLite2 / DB-IP lite (country.iso_code),
// ip-location-db (country_code), and an ASN database to be refused. Only
// tests import it, so mmdbwriter never reaches the sipprot binary.
package geoiptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Layout is the shape of a database's records.
type Layout int

// The record layouts.
const (
	// GeoIP2 is MaxMind GeoLite2-Country and DB-IP lite country:
	// {continent: {...}, country: {iso_code, names}, registered_country: {...}}.
	GeoIP2 Layout = iota
	// Flat is the ip-location-db country databases: {country_code}.
	Flat
	// ASN is GeoLite2-ASN: no country at all.
	ASN
)

// Network maps a CIDR to a country code (an organisation name for ASN).
type Network struct {
	CIDR, Code string
}

// DB describes a database to write. Zero fields take the defaults below.
type DB struct {
	Layout    Layout
	Type      string    // database_type; default per layout
	Built     time.Time // build_epoch; default Jan 1 2026
	IPVersion int       // 4 or 6; default 6
	Networks  []Network // inserted in order, later ones win on overlap
	// Description is the metadata's description map; nil means one English
	// line, and an empty non-nil map writes the empty map many real
	// databases ship.
	Description map[string]string
}

// DefaultBuilt is the build date of a DB without Built.
var DefaultBuilt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Bytes returns the database file.
func (d DB) Bytes() ([]byte, error) {
	typ := d.Type
	if typ == "" {
		typ = [...]string{GeoIP2: "GeoLite2-Country", Flat: "ip-location-db-country", ASN: "GeoLite2-ASN"}[d.Layout]
	}
	built := d.Built
	if built.IsZero() {
		built = DefaultBuilt
	}
	desc := d.Description
	if desc == nil {
		desc = map[string]string{"en": "sipprot test database"}
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: typ,
		BuildEpoch:   built.Unix(),
		IPVersion:    d.IPVersion,
		RecordSize:   28,
		Languages:    []string{"en", "fr"},
		Description:  desc,
		// Tests use the documentation ranges, which are reserved.
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("new tree: %w", err)
	}
	for _, n := range d.Networks {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", n.CIDR, err)
		}
		if err := tree.Insert(ipnet, record(d.Layout, n.Code)); err != nil {
			return nil, fmt.Errorf("insert %s: %w", n.CIDR, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	return buf.Bytes(), nil
}

// record builds one data record; GeoIP2 records carry names and IDs like
// the real ones, so lookups skip over as much data as they would in
// production.
func record(l Layout, code string) mmdbtype.DataType {
	switch l {
	case Flat:
		return mmdbtype.Map{"country_code": mmdbtype.String(code)}
	case ASN:
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64500),
			"autonomous_system_organization": mmdbtype.String(code),
		}
	}
	names := mmdbtype.Map{
		"en": mmdbtype.String("Country " + code),
		"fr": mmdbtype.String("Pays " + code),
	}
	country := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(1000 + uint32(code[0])*26 + uint32(code[1])),
		"iso_code":   mmdbtype.String(code),
		"names":      names,
	}
	return mmdbtype.Map{
		"continent": mmdbtype.Map{
			"code":       mmdbtype.String("EU"),
			"geoname_id": mmdbtype.Uint32(6255148),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Europe"), "fr": mmdbtype.String("Europe")},
		},
		"country":            country,
		"registered_country": country,
	}
}

// MustBytes returns the database file or fails the test.
func MustBytes(t testing.TB, d DB) []byte {
	t.Helper()
	b, err := d.Bytes()
	if err != nil {
		t.Fatalf("geoiptest: %v", err)
	}
	return b
}

// Write writes the database to path and returns its bytes.
func Write(t testing.TB, path string, d DB) []byte {
	t.Helper()
	b := MustBytes(t, d)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("geoiptest: %v", err)
	}
	return b
}

// Nets builds networks from "CIDR=CC" pairs, for short test tables.
func Nets(pairs ...string) []Network {
	out := make([]Network, 0, len(pairs))
	for _, p := range pairs {
		cidr, code, ok := strings.Cut(p, "=")
		if !ok {
			panic("geoiptest.Nets: want CIDR=CC, got " + p)
		}
		out = append(out, Network{CIDR: cidr, Code: code})
	}
	return out
}
