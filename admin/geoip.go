package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/manage"
)

type geoipData struct {
	Err       string
	Status    *geoip.Status
	Blocked   []string // names of the blocked countries
	Countries []country
}

func (s *server) geoipPage(w http.ResponseWriter, r *http.Request, se *session) {
	var d geoipData
	if g, err := s.opts.Service.GeoIP(); err != nil {
		d.Err = readErr(err, "geoip", "status", "--json").Error()
	} else {
		d.Status = &g.Status
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
	ctx, cancel := context.WithTimeout(r.Context(), cliTimeout)
	defer cancel()
	if a, err := s.opts.Service.SetKeys(ctx, conf.Edit{Section: "sip", Key: "blocked_countries", Value: codes}); err != nil {
		f.Text = err.Error()
	} else {
		s.opts.Log.Info("admin page settings saved", "keys", []string{"sip.blocked_countries"}, "value", codes, "remote", r.RemoteAddr)
		msg, err := appliedText(a)
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

// geoipUpdate runs `geoip update`: the daemon loads the new file at
// once rather than at its next check.
func (s *server) geoipUpdate(w http.ResponseWriter, r *http.Request, se *session) {
	var updated *manage.GeoIPUpdated
	res := s.change(r, se, func(ctx context.Context) (string, string, error) {
		var warned strings.Builder
		u, err := s.opts.Service.GeoIPUpdate(ctx, nil, func(w string) { warned.WriteString(w + "\n") })
		updated = u
		out, errOut, err := output(u, err)
		return out, warned.String() + errOut, err
	}, "geoip", "update")
	if res.err == nil && updated.Err != nil {
		f := res.flash()
		f.OK, f.Text = false, f.Text+"\nthe daemon did not load it: "+updated.Err.Error()
		s.sessions.setFlash(se, f)
	}
	redirect(w, r, "/geoip")
}
