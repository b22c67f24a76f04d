package policy

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// snapshot is everything a decision reads that a reload changes. It is
// never modified once published: a change builds a new one.
type snapshot struct {
	rules       *rules
	allow, deny *bart.Lite               // nil means empty
	geo         CountryLookup            // nil without a usable database
	fleet       *bart.Table[*FleetBlock] // nil means none
}

// Settings are the parts of a snapshot a caller may change. Publish takes
// the fields that are set; nil fields keep what is in force.
type Settings struct {
	// Config, when not nil, replaces the rules. The table bounds and the
	// event queue are fixed at New.
	Config *Config
	// Lists, when true, replaces both lists with Allow and Deny (nil
	// sets are empty lists).
	Lists       bool
	Allow, Deny *bart.Lite
	// Countries, when true, replaces the country lookup with Geo (nil:
	// none).
	Countries bool
	Geo       CountryLookup
	// Fleet, when true, replaces the fleet's blocks with FleetBlocks
	// (nil: none).
	Fleet       bool
	FleetBlocks *bart.Table[*FleetBlock]
}

// Publish puts s in force in one atomic swap: a reload of the config and
// its lists is seen by every decision either wholly or not at all. The
// sets must not be modified afterwards.
func (e *Engine) Publish(s Settings) {
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	next := *e.snap.Load()
	if s.Config != nil {
		next.rules = compile(*s.Config)
	}
	if s.Lists {
		next.allow, next.deny = s.Allow, s.Deny
	}
	if s.Countries {
		next.geo = s.Geo
	}
	if s.Fleet {
		next.fleet = s.FleetBlocks
	}
	e.snap.Store(&next)
}

// Reload swaps in a new configuration for the rules; state (blocks,
// counters) carries over.
func (e *Engine) Reload(cfg Config) { e.Publish(Settings{Config: &cfg}) }

// SetLists publishes new allow and deny sets; nil means empty.
func (e *Engine) SetLists(allow, deny *bart.Lite) {
	e.Publish(Settings{Lists: true, Allow: allow, Deny: deny})
}

// SetCountryLookup publishes the GeoIP lookup used by the country rule.
func (e *Engine) SetCountryLookup(l CountryLookup) {
	e.Publish(Settings{Countries: true, Geo: l})
}

// country returns a's country code, or "" without a lookup.
func (e *Engine) country(a netip.Addr) string {
	if g := e.snap.Load().geo; g != nil {
		cc, _ := g.Country(a)
		return cc
	}
	return ""
}
