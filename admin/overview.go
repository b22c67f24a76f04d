package admin

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"

	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/queue"
)

// reportDays is how far back the overview looks.
const reportDays = 7

type statusRow struct {
	Name string
	N    int
	Link string
}

type overviewData struct {
	StatusErr string
	Rows      []statusRow
	Daemon    *control.Status
	Running   bool
	Queues    []queue.QueueHealth

	ReportErr string
	Hourly    chart
	Daily     chart
	Top       []attacks.Source

	GeoIPErr  string
	GeoIP     *geoip.Status
	Countries []string
}

func (s *server) overview(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	var d overviewData
	if st, err := s.opts.Service.Status(ctx); err != nil {
		d.StatusErr = readErr(err, "status", "--json").Error()
	} else {
		d.Rows = []statusRow{{"Allow", len(st.Allow), "/allow"}, {"Deny", len(st.Deny), "/deny"},
			{"Dynamic (permanent)", len(st.Permanent), "/blocks"}, {"Dynamic (temporary)", len(st.Temporary), "/blocks"}}
		d.Daemon, d.Running = st.Daemon, st.DaemonRunning()
		if st.Daemon != nil && d.Running {
			d.Queues = st.Daemon.Queues
		}
	}

	now := s.opts.Now().In(time.Local)
	reports, err := s.reports(ctx, now)
	if err != nil {
		d.ReportErr = err.Error()
	}
	d.Hourly, d.Daily = hourlyChart(reports, now), dailyChart(reports, now)
	d.Top = topSources(reports)

	if g, err := s.opts.Service.GeoIP(); err != nil {
		d.GeoIPErr = readErr(err, "geoip", "status", "--json").Error()
	} else {
		d.GeoIP = &g.Status
	}
	for _, c := range s.opts.Config().SIP.BlockedCountries {
		d.Countries = append(d.Countries, countryName(string(c)))
	}
	s.render(w, http.StatusOK, "overview", s.page(se, "Overview", "overview", d))
}

// reports returns the daily reports of the last reportDays days by date;
// with an error, those it could read.
func (s *server) reports(ctx context.Context, now time.Time) (map[string]attacks.Report, error) {
	out := map[string]attacks.Report{}
	for i := range reportDays {
		day := now.AddDate(0, 0, -i).Format(time.DateOnly)
		rep, err := s.opts.Service.Report(ctx, day)
		if err != nil {
			return out, readErr(err, "report", "--json", "--date", day)
		}
		out[day] = rep.Report
	}
	return out, nil
}

// topSources merges the days' top sources: the most blocks, then the
// most dropped packets, over the whole period.
func topSources(reports map[string]attacks.Report) []attacks.Source {
	days := make([]string, 0, len(reports))
	for d := range reports {
		days = append(days, d)
	}
	slices.Sort(days) // oldest first, so the latest details win
	by := map[string]*attacks.Source{}
	for _, d := range days {
		for _, src := range reports[d].TopSources {
			m := by[src.IP]
			if m == nil {
				c := src
				by[src.IP] = &c
				continue
			}
			m.Blocks += src.Blocks
			m.Dropped += src.Dropped
			m.Permanent = m.Permanent || src.Permanent
			m.Reason = cmp.Or(src.Reason, m.Reason)
			m.Country = cmp.Or(src.Country, m.Country)
			m.UserAgent = cmp.Or(src.UserAgent, m.UserAgent)
		}
	}
	out := make([]attacks.Source, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b attacks.Source) int {
		return cmp.Or(cmp.Compare(b.Blocks, a.Blocks), cmp.Compare(b.Dropped, a.Dropped), cmp.Compare(a.IP, b.IP))
	})
	return out[:min(len(out), attacks.TopSources)]
}
