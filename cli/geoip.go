package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
	"github.com/spf13/cobra"
)

func newGeoIPCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "geoip",
		Short: "Update the country database, or show it",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newGeoIPUpdateCmd(opts), newGeoIPStatusCmd(opts))
	return cmd
}

func newGeoIPUpdateCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Download the country database from geoip.update_url now",
		Long: `Download the country database from geoip.update_url and, if it opens,
holds country data and is not older than the one in use, write it over
geoip.database. A running daemon is told to load it at once.
Nothing is downloaded when the server says the database has not changed
(ETag / If-Modified-Since). On failure the database file stays as it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var progress io.Writer
			if isTerminal(cmd.ErrOrStderr()) {
				progress = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := opts.service(cmd).GeoIPUpdate(ctx, progress, func(w string) { notes(cmd, []string{w}) })
			if err != nil {
				return err
			}
			printResult(cmd, r)
			return nil
		},
	}
}

func newGeoIPStatusCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show the country database: type, build date, source, next update",
		Long: `Show the country database in geoip.database: its type, build date and
where it came from, the last update attempt and when the next one is due
(update_every after the last successful check, as the daemon plans it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := opts.service(cmd).GeoIP()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), g.Status)
			}
			writeGeoIPStatus(cmd.OutOrStdout(), g.Status, g.Countries, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func writeGeoIPStatus(w io.Writer, st geoip.Status, countries []conf.Country, now time.Time) {
	line := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k+":", v) }
	line("file", st.File)
	if db := st.Database; db != nil {
		family := "IPv4 and IPv6"
		if db.IPVersion == 4 {
			family = "IPv4 only"
		}
		line("database", fmt.Sprintf("%s (%s), %s, %d nodes, %s", db.Type, db.Layout, family, db.NodeCount, sizeString(db.Size)))
		line("built", db.BuildDate.Format(time.DateOnly))
		line("source", st.Source)
	} else {
		line("database", "none: "+st.Problem)
	}
	if len(countries) > 0 {
		line("countries", geoIPCountriesLine(st, countries))
	}
	if !st.LastAttempt.IsZero() {
		r := st.LastResult
		if st.LastError != "" {
			r += ": " + st.LastError
		}
		line("last update", st.LastAttempt.Local().Format(time.DateTime)+" "+r)
	}
	switch {
	case st.UpdateURL == "":
		line("next update", "none (no geoip.update_url)")
	case !st.NextUpdate.After(now):
		line("next update", "due now (every "+st.UpdateEvery+", from "+st.UpdateURL+")")
	default:
		line("next update", st.NextUpdate.Local().Format(time.DateTime)+" (every "+st.UpdateEvery+", from "+st.UpdateURL+")")
	}
}

// geoIPCountriesLine says whether the configured countries are enforced,
// for `geoip status` and `sipprot status`.
func geoIPCountriesLine(st geoip.Status, countries []conf.Country) string {
	cc := make([]string, len(countries))
	for i, c := range countries {
		cc[i] = string(c)
	}
	list := strings.Join(cc, ", ")
	if !st.Usable {
		return list + " configured but NOT ENFORCED: no usable GeoIP database"
	}
	return list + " blocked"
}

// geoIPStatusLine is one line on country blocking for `sipprot status`.
func geoIPStatusLine(st geoip.Status, countries []conf.Country) string {
	line := "countries: " + geoIPCountriesLine(st, countries)
	if !st.Usable {
		return line + " (" + st.Problem + ")"
	}
	return line + fmt.Sprintf(" (%s built %s)", st.Database.Type, st.Database.BuildDate.Format(time.DateOnly))
}

func sizeString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// isTerminal reports whether w is a terminal, where progress lines with
// carriage returns make sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
