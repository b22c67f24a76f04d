package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/sipprot/sipprot/admin"
	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/savedblocks"
)

// serveAdmin starts the management web page on [admin] listen. The page
// runs manage's operations on the daemon's config file, with the daemon
// itself (local) in force of each change before it returns. A page that
// cannot start is logged; protection does not depend on it.
func (d *Daemon) serveAdmin() (stop func()) {
	if !d.opts.Admin {
		return func() {}
	}
	c := d.config()
	svc := manage.New(manage.Options{ConfigPath: d.opts.ConfigPath, MustExist: d.opts.MustExist, Daemon: local{d}})
	h, err := admin.New(admin.Options{ConfigPath: d.opts.ConfigPath, Config: d.config, Service: svc,
		TokenFile: admin.TokenPath(c), Listen: c.Admin.Listen, Log: d.log})
	if err != nil {
		d.log.Error("web page not served", "err", err)
		d.sup.fail("web", err)
		return func() {}
	}
	l, err := admin.Listen(c.Admin)
	if err != nil {
		d.log.Error("web page not served", "err", err)
		d.sup.fail("web", err)
		return func() {}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	d.sup.Go("web", func() error { return serveHTTP(srv, l) })
	scheme := "http"
	if c.Admin.TLSCert != "" {
		scheme = "https"
	}
	d.log.Info("web page listening", "url", scheme+"://"+c.Admin.Listen+"/", "login_secret", admin.TokenPath(c))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// local is the daemon as manage.Daemon, in process: what the control API
// serves to the CLI, called directly by the web page and by the API's
// handlers.
type local struct{ d *Daemon }

var _ manage.Daemon = local{}

func (l local) Status(context.Context) (*control.Status, error) {
	st := l.d.status(true)
	return &st, nil
}

func (l local) Blocks(context.Context) ([]savedblocks.JSON, error) { return l.d.activeBlocks(), nil }

func (l local) Unblock(_ context.Context, ips []string) ([]control.UnblockResult, error) {
	return l.d.Unblock(ips)
}

func (l local) ReloadLists(context.Context) (control.ListsReply, error) { return l.d.ReloadLists() }

func (l local) ReloadConfig(ctx context.Context) error { return l.d.ReloadConfig(ctx) }

func (l local) Report(_ context.Context, date string) (attacks.Report, error) {
	return l.d.Report(date)
}

// ReloadGeoIP loads the database file now rather than at the next check.
func (l local) Fleet(_ context.Context, ip string, limit int) (control.FleetBlocks, error) {
	var a netip.Addr
	if ip != "" {
		var err error
		if a, err = netip.ParseAddr(ip); err != nil {
			return control.FleetBlocks{}, fmt.Errorf("fleet: %q is not an address", ip)
		}
	}
	return l.d.fleetBlocks(a, limit), nil
}

func (l local) ReloadGeoIP(context.Context) (geoip.Status, error) {
	g := l.d.geo.Load()
	if _, err := g.Reload(); err != nil {
		return geoip.Status{}, fmt.Errorf("geoip reload: %w", err)
	}
	return g.Status(), nil
}
