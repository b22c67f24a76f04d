package daemon

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/sipprot/sipprot/internal/tlslisten"
	"github.com/sipprot/sipprot/metrics"
	"github.com/sipprot/sipprot/queue"
)

// serveMetrics starts /metrics on [metrics] listen. Like the web page, it
// is worth less than protection: one that cannot start is logged and
// listed in status, and the daemon goes on.
func (d *Daemon) serveMetrics() (stop func()) {
	c := d.config().Metrics
	if !d.opts.Metrics || !c.On() {
		return func() {}
	}
	l, err := tlslisten.Listen("metrics", c.Listen, c.TLSCert, c.TLSKey)
	if err != nil {
		d.log.Error("metrics not served", "err", err)
		d.sup.fail("metrics", err)
		return func() {}
	}
	token := ""
	if c.BearerTokenFile != "" {
		if token, err = readSecret(c.BearerTokenFile, "metrics.bearer_token_file"); err != nil {
			l.Close()
			d.log.Error("metrics not served", "err", err)
			d.sup.fail("metrics", err)
			return func() {}
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.New(d.metrics, metrics.Build{Version: d.opts.Version, Commit: d.opts.Commit, GoVersion: runtime.Version()}, token))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	d.sup.Go("metrics", func() error { return serveHTTP(srv, l) })
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	d.log.Info("metrics listening", "url", scheme+"://"+l.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// latencySource is the queues' verdict latency histogram; the fakes tests
// pass have none.
type latencySource interface{ Latency() queue.Latency }

// metrics gathers one scrape's figures from the counters already kept.
func (d *Daemon) metrics() metrics.Snapshot {
	now := time.Now()
	s := metrics.Snapshot{Engine: d.engine.Stats(), Blocks: d.engine.BlockCounts(), Fleet: d.fleetStatus(),
		Queues: d.queues.Health(), FailedServes: d.sup.Failed(), Services: d.sup.Services()}
	if l, ok := d.queues.(latencySource); ok {
		s.Latency = l.Latency()
	}
	s.Allow, s.Deny = d.engine.ListSizes()
	if g := d.geo.Load(); g != nil {
		if st := g.Status(); st.Usable && st.Database != nil {
			s.GeoIPDate = st.Database.BuildDate
			s.GeoIPAge = now.Sub(st.Database.BuildDate)
		}
	}
	if d.mail != nil {
		st := d.mail.Status()
		s.MailPending, s.MailLast, s.MailLastOK = st.Pending, st.LastDelivery, st.LastOK
	}
	return s
}
