package admin

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
)

type geoipData struct {
	Err       string
	Status    *geoip.Status
	Blocked   []string // names of the blocked countries
	Countries []country
}

func (s *server) geoipPage(w http.ResponseWriter, r *http.Request, se *session) {
	var d geoipData
	var st geoip.Status
	if err := s.runJSON(r.Context(), &st, "geoip", "status", "--json"); err != nil {
		d.Err = err.Error()
	} else {
		d.Status = &st
	}
	selected := map[string]bool{}
	if c, err := s.loadConfigFile(); err != nil {
		d.Err = strings.TrimSpace(d.Err + "\n" + err.Error())
	} else {
		for _, cc := range c.SIP.BlockedCountries {
			selected[string(cc)] = true
			d.Blocked = append(d.Blocked, countryName(string(cc)))
		}
	}
	d.Countries = countryChoices(selected)
	s.render(w, http.StatusOK, "geoip", s.page(se, "GeoIP", "geoip", d))
}

// saveCountries sets sip.blocked_countries to the ticked countries.
func (s *server) saveCountries(w http.ResponseWriter, r *http.Request, se *session) {
	codes := []string{}
	for _, c := range nonEmpty(r.PostForm["cc"]) {
		if c = strings.ToUpper(c); !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	f := &flash{}
	if err := conf.SetKey(s.opts.ConfigPath, "sip", "blocked_countries", codes); err != nil {
		f.Text = err.Error()
	} else {
		s.opts.Log.Info("admin page settings saved", "keys", []string{"sip.blocked_countries"}, "value", codes, "remote", r.RemoteAddr)
		msg, err := s.reloadConfig(r.Context())
		f.OK = err == nil
		f.Text = "saved sip.blocked_countries = [" + strings.Join(codes, ", ") + "] to " + s.opts.ConfigPath + "\n"
		if err != nil {
			f.Text += err.Error()
		} else {
			f.Text += msg
		}
	}
	s.sessions.setFlash(se, f)
	redirect(w, r, "/geoip")
}

// geoipUpdate runs `geoip update`, then has the daemon load the new file
// at once rather than at its next check.
func (s *server) geoipUpdate(w http.ResponseWriter, r *http.Request, se *session) {
	res := s.change(r, se, nil, "geoip", "update")
	if res.err == nil {
		err := control.NewClient(s.opts.Config().Admin.Socket).Post(r.Context(), control.PathGeoIPReload, nil, nil)
		if err != nil && !errors.Is(err, control.ErrNoDaemon) {
			f := res.flash()
			f.OK, f.Text = false, f.Text+"\nthe daemon did not load it: "+err.Error()
			s.sessions.setFlash(se, f)
		}
	}
	redirect(w, r, "/geoip")
}
