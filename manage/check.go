package manage

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/fleet"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// Match is a list entry that holds the checked address.
type Match struct {
	Network string `json:"network"`
	Note    string `json:"note"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// Check is `check --json`: the entries holding the address on each list,
// its dynamic block in force (null if none), and the rule that wins.
type Check struct {
	IP      netip.Addr        `json:"ip"`
	Allow   []Match           `json:"allow"`
	Deny    []Match           `json:"deny"`
	Dynamic *savedblocks.JSON `json:"dynamic"`
	// Fleet is the fleet's decision enforced for the address, absent when
	// none (or no [fleet]).
	Fleet *control.FleetBlock `json:"fleet,omitempty"`
	// Country is the address's country in the GeoIP database, absent when
	// no database is usable or it does not know the address;
	// CountryBlocked says it is one of [sip] blocked_countries.
	Country        string `json:"country,omitempty"`
	CountryBlocked bool   `json:"country_blocked,omitempty"`
	Winner         string `json:"winner"`
	// Notes say where the dynamic blocks came from when not from the
	// running daemon.
	Notes []string `json:"-"`
}

// Check tells which lists hold the address, its dynamic block and which
// rule wins, in the engine's order (policy.AddressWinner). A network is
// refused: which rule wins is a question about one source.
func (s *Service) Check(ctx context.Context, addr string) (*Check, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	a, err := parseCheckAddr(addr)
	if err != nil {
		return nil, err
	}
	allow, err := lists.ReadDoc(c.Lists.Allow)
	if err != nil {
		return nil, err
	}
	deny, err := lists.ReadDoc(c.Lists.Deny)
	if err != nil {
		return nil, err
	}
	blocks, err := s.blocks(ctx, c)
	if err != nil {
		return nil, err
	}
	r := &Check{IP: a, Allow: matches(allow.Holding(a)), Deny: matches(deny.Holding(a))}
	if blocks.Warning != "" {
		r.Notes = append(r.Notes, blocks.Warning)
	}
	if !blocks.Live {
		r.Notes = append(r.Notes, NotRunning(c.Admin.Socket, "dynamic blocks as it last saved them"))
	}
	for _, b := range blocks.Blocks {
		if b.Addr.Unmap() == a {
			j := savedblocks.ToJSON(b)
			r.Dynamic = &j
		}
	}
	if c.Fleet.On() {
		r.Fleet = s.fleetBlock(ctx, c, a)
	}
	if db, err := geoip.Open(c.GeoIP.Database); err == nil {
		if cc, ok := db.Country(a); ok {
			r.Country = cc
			r.CountryBlocked = slices.Contains(c.SIP.BlockedCountries, conf.Country(cc))
		}
	}
	r.Winner = winner(r).String()
	return r, nil
}

func parseCheckAddr(s string) (netip.Addr, error) {
	p, err := lists.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if !p.IsSingleIP() {
		return netip.Addr{}, fmt.Errorf("check takes one address, not the network %s", p)
	}
	return p.Addr(), nil
}

// winner asks the engine's order which of the address rules that hold
// for r decides.
func winner(r *Check) policy.Reason {
	return policy.AddressWinner(func(rule policy.Reason) bool {
		switch rule {
		case policy.ReasonAllow:
			return len(r.Allow) > 0
		case policy.ReasonDeny:
			return len(r.Deny) > 0
		case policy.ReasonDynamic:
			return r.Dynamic != nil
		case policy.ReasonFleet:
			return r.Fleet != nil
		case policy.ReasonCountry:
			return r.CountryBlocked
		}
		return false
	})
}

func matches(ms []lists.Match) []Match {
	out := []Match{}
	for _, m := range ms {
		out = append(out, Match{Network: m.Prefix.String(), Note: m.Note, File: m.File, Line: m.Line})
	}
	return out
}

// fleetBlock is the fleet decision holding a: the running daemon's, or
// the one it last saved.
func (s *Service) fleetBlock(ctx context.Context, c *conf.Config, a netip.Addr) *control.FleetBlock {
	if fb, err := s.daemon(c).Fleet(ctx, a.String(), 0); err == nil {
		if len(fb.Blocks) == 0 {
			return nil
		}
		return &fb.Blocks[0]
	}
	saved, _ := fleet.Load(c.State.Dir, s.opts.Now())
	for _, d := range saved {
		if d.Prefix.Contains(a) {
			b := control.FleetBlockOf(d)
			return &b
		}
	}
	return nil
}

// FleetBlocks lists the fleet's blocks enforced, sorted by address, at
// most limit (0: all): the running daemon's, or those it last saved. on
// is false when [fleet] is off.
func (s *Service) FleetBlocks(ctx context.Context, limit int) (fb control.FleetBlocks, on bool, err error) {
	c, err := s.opts.Config()
	if err != nil || !c.Fleet.On() {
		return fb, false, err
	}
	if fb, err := s.daemon(c).Fleet(ctx, "", limit); err == nil {
		return fb, true, nil
	}
	saved, err := fleet.Load(c.State.Dir, s.opts.Now())
	if err != nil {
		return fb, true, err
	}
	slices.SortFunc(saved, func(a, b fleet.Decision) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	fb.Total = len(saved)
	for _, d := range saved {
		if limit > 0 && len(fb.Blocks) == limit {
			break
		}
		fb.Blocks = append(fb.Blocks, control.FleetBlockOf(d))
	}
	return fb, true, nil
}
