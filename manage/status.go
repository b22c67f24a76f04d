package manage

import (
	"context"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/notify"
	"github.com/sipprot/sipprot/policy"
)

// Status is what `sipprot status` shows: the lists, the dynamic blocks,
// the daemon's health, the notifications and the country blocking.
type Status struct {
	Allow, Deny          []lists.Entry
	Permanent, Temporary []policy.BlockState
	// Daemon is the daemon's status, live when it answers, else as it
	// last wrote it; nil when it never ran with this state directory.
	Daemon *control.Status
	Notify notify.Status
	// Countries are [sip] blocked_countries, and GeoIP the database that
	// enforces them; nil when no country is configured.
	Countries []conf.Country
	GeoIP     *geoip.Status
	// Now is when the status was taken, to judge a stale daemon.
	Now time.Time
	// Warning says why a running daemon's blocks could not be had.
	Warning string
}

// DaemonRunning says the daemon runs and answers.
func (st *Status) DaemonRunning() bool {
	return st.Daemon != nil && st.Daemon.Running && !st.Daemon.Stale(st.Now)
}

// Status reads the lists, the blocks and the daemon's health.
func (s *Service) Status(ctx context.Context) (*Status, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	st := &Status{}
	if st.Allow, err = lists.Load(c.Lists.Allow); err != nil {
		return nil, err
	}
	if st.Deny, err = lists.Load(c.Lists.Deny); err != nil {
		return nil, err
	}
	blocks, err := s.blocks(ctx, c)
	if err != nil {
		return nil, err
	}
	st.Warning = blocks.Warning
	for _, b := range blocks.Blocks {
		if b.Permanent {
			st.Permanent = append(st.Permanent, b)
		} else {
			st.Temporary = append(st.Temporary, b)
		}
	}
	if st.Daemon, err = s.daemonStatus(ctx, c, blocks.Live); err != nil {
		return nil, err
	}
	st.Now = s.opts.Now()
	st.Notify = notifyStatus(c)
	if len(c.SIP.BlockedCountries) > 0 {
		st.Countries = c.SIP.BlockedCountries
		g := geoIPStatus(c)
		st.GeoIP = &g
	}
	return st, nil
}

// daemonStatus is the running daemon's status, live when it answers,
// else as it last wrote it.
func (s *Service) daemonStatus(ctx context.Context, c *conf.Config, live bool) (*control.Status, error) {
	if live {
		if st, err := s.daemon(c).Status(ctx); err == nil {
			return st, nil
		}
	}
	return control.ReadStatus(c.State.Dir)
}

// notifyStatus is the email notifications' state as the daemon last
// saved it, with the config's reason if they are off.
func notifyStatus(c *conf.Config) notify.Status {
	ns, err := notify.ReadStatus(c.State.Dir)
	if err != nil {
		ns.LastResult = err.Error()
	}
	if ns.Off == "" {
		ns.Off = notify.OffReason(notify.SettingsOf(c))
	}
	return ns
}
