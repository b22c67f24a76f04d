package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/savedblocks"
)

type blockRow struct {
	savedblocks.JSON
	Left string // time left, temporary blocks only
}

type blocksData struct {
	Err                  string
	Address              string
	Reason               string
	Country              string
	Reasons, Countries   []string
	Permanent, Temporary []blockRow
	Total, Shown         int
	// The fleet's blocks, when [fleet] is on: the first fleetShown by
	// address matching the filter, out of FleetTotal.
	FleetOn    bool
	Fleet      []control.FleetBlock
	FleetTotal int
}

// fleetShown bounds the fleet table: a community blocklist holds tens of
// thousands.
const fleetShown = 500

func (s *server) blocksPage(w http.ResponseWriter, r *http.Request, se *session) {
	q := r.URL.Query()
	d := blocksData{Address: strings.TrimSpace(q.Get("address")), Reason: q.Get("reason"), Country: strings.ToUpper(q.Get("country"))}
	// As `status --dynamic --json`: what the page lists is what the
	// CLI's status does.
	var all []savedblocks.JSON
	if st, err := s.opts.Service.Status(r.Context()); err != nil {
		d.Err = readErr(err, "status", "--dynamic", "--json").Error()
	} else {
		for _, b := range append(st.Permanent, st.Temporary...) {
			all = append(all, savedblocks.ToJSON(b))
		}
	}
	now := s.opts.Now()
	match := addressFilter(d.Address)
	for _, b := range all {
		if !slices.Contains(d.Reasons, b.Reason) {
			d.Reasons = append(d.Reasons, b.Reason)
		}
		if b.Country != "" && !slices.Contains(d.Countries, b.Country) {
			d.Countries = append(d.Countries, b.Country)
		}
		if !match(b.IP) || d.Reason != "" && b.Reason != d.Reason || d.Country != "" && b.Country != d.Country {
			continue
		}
		row := blockRow{JSON: b}
		if b.Permanent {
			d.Permanent = append(d.Permanent, row)
		} else {
			row.Left = timeLeft(b.Until.Sub(now))
			d.Temporary = append(d.Temporary, row)
		}
	}
	slices.Sort(d.Reasons)
	slices.Sort(d.Countries)
	d.Total, d.Shown = len(all), len(d.Permanent)+len(d.Temporary)
	limit := fleetShown
	if d.Address != "" {
		limit = 0 // the filter needs them all
	}
	if fb, on, err := s.opts.Service.FleetBlocks(r.Context(), limit); err != nil {
		d.Err = err.Error()
	} else if on {
		d.FleetOn, d.FleetTotal = true, fb.Total
		for _, b := range fb.Blocks {
			if len(d.Fleet) == fleetShown {
				break
			}
			if p, err := netip.ParsePrefix(b.Prefix); err == nil && (d.Address == "" || match(p.Addr()) || p.Contains(addrOf(d.Address))) {
				d.Fleet = append(d.Fleet, b)
			}
		}
	}
	s.render(w, http.StatusOK, "blocks", s.page(se, "Dynamic blocks", "blocks", d))
}

// addressFilter matches an address against what the operator typed: a
// network holds it, an address is it, anything else is part of it.
func addressFilter(q string) func(netip.Addr) bool {
	if q == "" {
		return func(netip.Addr) bool { return true }
	}
	if p, err := netip.ParsePrefix(q); err == nil {
		return func(a netip.Addr) bool { return p.Masked().Contains(a.Unmap()) }
	}
	if x, err := netip.ParseAddr(q); err == nil {
		return func(a netip.Addr) bool { return a.Unmap() == x.Unmap() }
	}
	return func(a netip.Addr) bool { return strings.Contains(a.String(), q) }
}

// timeLeft says how long a block lasts, to the second under a minute.
func timeLeft(d time.Duration) string {
	switch {
	case d <= 0:
		return "ending"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func (s *server) unblock(w http.ResponseWriter, r *http.Request, se *session) {
	sel := nonEmpty(r.PostForm["sel"])
	if len(sel) == 0 {
		s.sessions.setFlash(se, &flash{Text: "Nothing selected: tick the addresses to unblock."})
	} else {
		s.change(r, se, func(ctx context.Context) (string, string, error) {
			return output(s.opts.Service.Unblock(ctx, sel))
		}, append([]string{"unblock", "--"}, sel...)...)
	}
	redirect(w, r, "/blocks")
}

// addrOf is q as an address, or the zero one.
func addrOf(q string) netip.Addr {
	a, _ := netip.ParseAddr(q)
	return a.Unmap()
}
