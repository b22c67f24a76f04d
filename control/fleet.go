package control

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/sipprot/sipprot/fleet"
)

// FleetBlock is one fleet decision the daemon enforces.
type FleetBlock struct {
	Prefix   string    `json:"prefix"`
	Origin   string    `json:"origin"`
	Scenario string    `json:"scenario"`
	Until    time.Time `json:"until"`
	ID       int64     `json:"id"`
}

// FleetBlockOf is d as the API shows it.
func FleetBlockOf(d fleet.Decision) FleetBlock {
	return FleetBlock{Prefix: d.Prefix.String(), Origin: d.Origin, Scenario: d.Scenario, Until: d.Until.UTC(), ID: d.ID}
}

// FleetBlocks is the answer of GET PathFleet: at most the asked number
// of blocks, sorted by prefix, and how many are enforced in all.
type FleetBlocks struct {
	Blocks []FleetBlock `json:"blocks"`
	Total  int          `json:"total"`
}

// Fleet is GET PathFleet: the fleet block holding ip (ip set), or the
// first limit fleet blocks (limit 0: all).
func (c *Client) Fleet(ctx context.Context, ip string, limit int) (FleetBlocks, error) {
	var r FleetBlocks
	q := url.Values{}
	if ip != "" {
		q.Set("ip", ip)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	err := c.Get(ctx, PathFleet, q, &r)
	return r, err
}
