package control

import (
	"context"
	"net/url"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/savedblocks"
)

// The typed calls of the API, one per path: the CLI's way to the running
// daemon (manage.Daemon). Each returns ErrNoDaemon when none answers.

// Status is GET PathStatus: the daemon's health, live.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.Get(ctx, PathStatus, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Blocks is GET PathBlocks: the dynamic blocks in force.
func (c *Client) Blocks(ctx context.Context) ([]savedblocks.JSON, error) {
	var js []savedblocks.JSON
	if err := c.Get(ctx, PathBlocks, nil, &js); err != nil {
		return nil, err
	}
	return js, nil
}

// Unblock is POST PathUnblock: lift the dynamic blocks of ips.
func (c *Client) Unblock(ctx context.Context, ips []string) ([]UnblockResult, error) {
	var res []UnblockResult
	if err := c.Post(ctx, PathUnblock, UnblockRequest{IPs: ips}, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// ReloadLists is POST PathListsReload: put both list files in force now.
func (c *Client) ReloadLists(ctx context.Context) (ListsReply, error) {
	var res ListsReply
	err := c.Post(ctx, PathListsReload, nil, &res)
	return res, err
}

// ReloadConfig is POST PathConfigReload: as SIGHUP, with the refusal.
func (c *Client) ReloadConfig(ctx context.Context) error {
	return c.Post(ctx, PathConfigReload, nil, nil)
}

// Report is GET PathReport: the attack report of a local day.
func (c *Client) Report(ctx context.Context, date string) (attacks.Report, error) {
	var r attacks.Report
	err := c.Get(ctx, PathReport, url.Values{"date": {date}}, &r)
	return r, err
}

// ReloadGeoIP is POST PathGeoIPReload: load the database file now.
func (c *Client) ReloadGeoIP(ctx context.Context) (geoip.Status, error) {
	var st geoip.Status
	err := c.Post(ctx, PathGeoIPReload, nil, &st)
	return st, err
}
