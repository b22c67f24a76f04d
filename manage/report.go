package manage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
)

// Report is one day of the attack log.
type Report struct {
	attacks.Report
	// Notes say where the report came from when not from the running
	// daemon, and what of the log could not be read.
	Notes []string
}

// Report is the attack report of a local day (YYYY-MM-DD in Location;
// "" is today). The running daemon's includes what it has not written
// yet; with none, the attack log files are read. Lines the log could not
// use are a note: the report of the rest still stands. With an error,
// the result holds the notes made before it.
func (s *Service) Report(ctx context.Context, date string) (*Report, error) {
	loc := s.opts.Location
	day, err := parseReportDate(date, s.opts.Now(), loc)
	if err != nil {
		return nil, err
	}
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	r := &Report{}
	r.Report, err = s.daemon(c).Report(ctx, day.In(loc).Format(time.DateOnly))
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, control.ErrNoDaemon):
		r.Notes = append(r.Notes, NotRunning(c.Admin.Socket, "reading the attack log files"))
	default:
		r.Notes = append(r.Notes, fmt.Sprintf("warning: %v; reading the attack log files instead", err))
	}
	rep, skipped, err := attacks.BuildReport(c.State.Dir, day, loc)
	if err != nil {
		return r, err
	}
	// Sources only dropped (never blocked) have no country in the log.
	if db, err := geoip.Open(c.GeoIP.Database); err == nil {
		rep.FillCountries(db.Country)
	}
	r.Report = rep
	if skipped > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("warning: skipped %s in %s",
			Plural(skipped, "unreadable line", "unreadable lines"), attacks.Path(c.State.Dir, rep.Date)))
	}
	return r, nil
}

// parseReportDate reads a date in loc; empty means today.
func parseReportDate(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return now.In(loc), nil
	}
	day, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid --date %q: want YYYY-MM-DD", s)
	}
	return day, nil
}
