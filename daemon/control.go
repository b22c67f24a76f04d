package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// serveControl starts the control API on the configured socket. A daemon
// that cannot bind it still protects: the CLI falls back to the files.
func (d *Daemon) serveControl() (stop func()) {
	path := d.config().Admin.Socket
	l, err := control.Listen(path)
	if err != nil {
		d.log.Error("control API not served: the CLI works on the files, and changes apply within a second through the file watcher", "err", err)
		d.sup.fail("control", err)
		return func() {}
	}
	srv := &http.Server{Handler: d.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	d.sup.Go("control", func() error { return serveHTTP(srv, l) })
	d.log.Info("control API listening", "socket", path)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// controlHandler serves the API: each path is one method of local, the
// daemon as manage.Daemon, which the web page calls in process.
func (d *Daemon) controlHandler() http.Handler {
	l := local{d}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+control.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		st, _ := l.Status(r.Context())
		control.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET "+control.PathBlocks, func(w http.ResponseWriter, r *http.Request) {
		bs, _ := l.Blocks(r.Context())
		control.WriteJSON(w, http.StatusOK, bs)
	})
	mux.HandleFunc("POST "+control.PathUnblock, func(w http.ResponseWriter, r *http.Request) {
		var req control.UnblockRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			control.WriteError(w, http.StatusBadRequest, fmt.Errorf("unblock: %w", err))
			return
		}
		res, err := l.Unblock(r.Context(), req.IPs)
		reply(w, http.StatusBadRequest, res, err)
	})
	mux.HandleFunc("POST "+control.PathListsReload, func(w http.ResponseWriter, r *http.Request) {
		res, err := l.ReloadLists(r.Context())
		reply(w, http.StatusUnprocessableEntity, res, err)
	})
	mux.HandleFunc("POST "+control.PathConfigReload, func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusUnprocessableEntity, struct{}{}, l.ReloadConfig(r.Context()))
	})
	mux.HandleFunc("POST "+control.PathGeoIPReload, func(w http.ResponseWriter, r *http.Request) {
		st, err := l.ReloadGeoIP(r.Context())
		reply(w, http.StatusUnprocessableEntity, st, err)
	})
	mux.HandleFunc("GET "+control.PathFleet, func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		res, err := l.Fleet(r.Context(), r.URL.Query().Get("ip"), limit)
		reply(w, http.StatusBadRequest, res, err)
	})
	mux.HandleFunc("GET "+control.PathReport, func(w http.ResponseWriter, r *http.Request) {
		rep, err := l.Report(r.Context(), r.URL.Query().Get("date"))
		reply(w, http.StatusBadRequest, rep, err)
	})
	return mux
}

// reply writes a call's answer as JSON, or its error with status.
func reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		control.WriteError(w, status, err)
		return
	}
	control.WriteJSON(w, http.StatusOK, v)
}

// Report is the attack report of a local day (YYYY-MM-DD), with what the
// daemon has not written yet.
func (d *Daemon) Report(date string) (attacks.Report, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, time.Local)
	if err != nil {
		return attacks.Report{}, fmt.Errorf("report: date %q: want YYYY-MM-DD", date)
	}
	return d.dayReport(day)
}

// dayReport is the report of the local day holding day: for the control
// API and the daily summary email.
func (d *Daemon) dayReport(day time.Time) (attacks.Report, error) {
	date := day.In(time.Local).Format(time.DateOnly)
	if d.alog != nil {
		if err := d.alog.FlushAll(); err != nil {
			d.log.Error("writing the attack log failed", "err", err)
		}
	}
	rep, skipped, err := attacks.BuildReport(d.config().State.Dir, day, time.Local)
	if err != nil {
		return attacks.Report{}, err
	}
	if skipped > 0 {
		d.log.Warn("unreadable attack log lines skipped", "date", date, "lines", skipped)
	}
	rep.FillCountries(d.geo.Load().Country)
	return rep, nil
}

// activeBlocks is the dynamic block list in force, with the User-Agent
// and country of each block.
func (d *Daemon) activeBlocks() []savedblocks.JSON {
	now := time.Now()
	all := d.engine.Blocks()
	out := []savedblocks.JSON{}
	for _, b := range all {
		if policy.InForce(b, now) {
			out = append(out, savedblocks.ToJSON(b))
		}
	}
	return out
}

// Unblock lifts the dynamic blocks of ips, temporary or permanent, and
// saves the state at once. Every address is checked before any is lifted.
func (d *Daemon) Unblock(ips []string) ([]control.UnblockResult, error) {
	addrs, err := parseAddrs(ips)
	if err != nil {
		return nil, err
	}
	out := make([]control.UnblockResult, 0, len(addrs))
	for _, a := range addrs {
		res := control.UnblockResult{IP: a.String()}
		if b, ok := d.engine.Blocked(a); ok {
			if d.engine.Unblock(a) {
				j := savedblocks.ToJSON(b)
				res.Lifted, res.Block = true, &j
				d.log.Info("unblocked by hand", "ip", a.String())
			}
		}
		out = append(out, res)
	}
	d.changed.Store(true)
	d.requestSave()
	return out, nil
}

func parseAddrs(ips []string) ([]netip.Addr, error) {
	if len(ips) == 0 {
		return nil, errors.New("unblock: no address given")
	}
	var errs []error
	addrs := make([]netip.Addr, 0, len(ips))
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an IP address", s))
			continue
		}
		addrs = append(addrs, a.Unmap())
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("unblock: %w", errors.Join(errs...))
	}
	return addrs, nil
}

// ReloadLists reads both list files now and puts them in force; a bad
// file changes nothing and the error names its line.
func (d *Daemon) ReloadLists() (control.ListsReply, error) {
	allow, deny, lifted, err := d.refreshLists(d.config(), nil)
	if err != nil {
		return control.ListsReply{}, err
	}
	res := control.ListsReply{Allow: len(allow), Deny: len(deny), Lifted: []string{}}
	for _, a := range lifted {
		res.Lifted = append(res.Lifted, a.String())
	}
	return res, nil
}

// ReloadConfig reloads the config as SIGHUP does, on the daemon's loop,
// and returns why it was refused, if it was.
func (d *Daemon) ReloadConfig(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case d.reloadReq <- ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
