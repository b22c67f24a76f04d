package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/sipprot/sipprot/admin"
)

// serveAdmin starts the management web page on [admin] listen when the
// daemon was given a CLI to run the page's changes through. A page that
// cannot start is logged; protection does not depend on it.
func (d *Daemon) serveAdmin() (stop func()) {
	if d.opts.RunCLI == nil {
		return func() {}
	}
	c := d.config()
	h, err := admin.New(admin.Options{ConfigPath: d.opts.ConfigPath, Config: d.config, RunCLI: d.opts.RunCLI,
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
