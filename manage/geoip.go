package manage

import (
	"context"
	"fmt"
	"io"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
)

// GeoIP is the country database and the countries it enforces.
type GeoIP struct {
	Status    geoip.Status
	Countries []conf.Country
}

// GeoIP reads the country database's status. A file that does not open
// is reported in the status itself.
func (s *Service) GeoIP() (*GeoIP, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	return &GeoIP{Status: geoIPStatus(c), Countries: c.SIP.BlockedCountries}, nil
}

func geoIPStatus(c *conf.Config) geoip.Status {
	st := geoip.NewStore(geoip.ConfigFrom(c.GeoIP))
	_ = st.Load() // the problem is in the status
	return st.Status()
}

// GeoIPUpdated is what GeoIPUpdate did.
type GeoIPUpdated struct {
	Result   geoip.Result
	Database string
	Socket   string
	// Live: the running daemon loaded the new file.
	Live bool
	// NoDaemon: none runs; it loads the file when it starts.
	NoDaemon bool
	// Err is why a running daemon did not load it.
	Err error
}

// Text is what the CLI prints on stdout.
func (r *GeoIPUpdated) Text() string {
	s := r.Result.String() + "\n"
	if r.Result.Outcome != geoip.Updated {
		return s
	}
	s += fmt.Sprintf("written to %s\n", r.Database)
	switch {
	case r.Live:
		s += "in force in the running daemon\n"
	case r.NoDaemon:
		s += NotRunning(r.Socket, "the daemon loads it when it starts") + "\n"
	}
	return s
}

// Warnings are what the CLI prints on stderr.
func (r *GeoIPUpdated) Warnings() []string {
	if r.Err == nil {
		return nil
	}
	return []string{fmt.Sprintf("warning: the daemon did not load it: %v; it checks the file within a minute", r.Err)}
}

// GeoIPUpdate downloads the country database from geoip.update_url and,
// if it is good and not older than the one in use, writes it over
// geoip.database; the running daemon loads it at once. On failure the
// file stays as it was. progress, if not nil, gets download progress;
// warn gets, before the download, why the file in place does not open
// (what an update repairs, so not an error).
func (s *Service) GeoIPUpdate(ctx context.Context, progress io.Writer, warn func(string)) (*GeoIPUpdated, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	var o []geoip.Option
	if progress != nil {
		o = append(o, geoip.WithProgress(progress))
	}
	st := geoip.NewStore(geoip.ConfigFrom(c.GeoIP), o...)
	if err := st.Load(); err != nil {
		warn(fmt.Sprintf("warning: %v", err))
	}
	r := &GeoIPUpdated{Database: c.GeoIP.Database, Socket: c.Admin.Socket}
	if r.Result, err = st.Update(ctx); err != nil {
		kept := "no database is in use"
		if st.Usable() {
			kept = c.GeoIP.Database + " stays in use"
		}
		return nil, fmt.Errorf("geoip update failed: %w; %s", err, kept)
	}
	if r.Result.Outcome != geoip.Updated {
		return r, nil
	}
	_, err = s.daemon(c).ReloadGeoIP(ctx)
	r.Live, r.NoDaemon, r.Err = outcome(err)
	return r, nil
}
