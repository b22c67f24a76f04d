package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/store"
	"github.com/spf13/cobra"
)

// reportLocation is the time zone that cuts reports into days and hours:
// the operator's. Tests pin it so goldens do not depend on TZ.
var reportLocation = time.Local

// reportNow is the clock behind the default --date.
var reportNow = time.Now

// reportFromDaemon asks the running daemon for a day's report, so it
// includes what the daemon has not written yet. ok false means "read the
// files instead", and says so.
var reportFromDaemon = func(cmd *cobra.Command, c *conf.Config, day time.Time, loc *time.Location) (r store.Report, ok bool, err error) {
	q := url.Values{"date": {day.In(loc).Format(time.DateOnly)}}
	err = daemonClient(c).Get(cmdContext(cmd), control.PathReport, q, &r)
	switch {
	case err == nil:
		return r, true, nil
	case errors.Is(err, control.ErrNoDaemon):
		notRunning(cmd.ErrOrStderr(), c, "reading the attack log files")
	default:
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v; reading the attack log files instead\n", err)
	}
	return store.Report{}, false, nil
}

// maxUserAgentWidth bounds the User-Agent column; --json has it whole.
const maxUserAgentWidth = 48

func newReportCmd(opts *options) *cobra.Command {
	var date string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report [--date YYYY-MM-DD] [--json]",
		Short: "Print the daily attack report",
		Long: `Print one day of the attack log: attacks per reason, blocks made and
lifted, packets dropped per reason, the top sources with their country and
User-Agent, and the day hour by hour. Days and hours are local time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loc := reportLocation
			day, err := parseReportDate(date, reportNow(), loc)
			if err != nil {
				return err
			}
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			r, err := dayReport(cmd, c, day, loc)
			if err != nil {
				return err
			}
			if asJSON {
				return writeReportJSON(cmd.OutOrStdout(), r)
			}
			return writeReportText(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "the day to report, YYYY-MM-DD (default today)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	cmd.RegisterFlagCompletionFunc("date", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := loadConfig(cmd, opts)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		days, _ := store.ReportDays(c.State.Dir)
		slices.Reverse(days) // the latest first
		return days, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	})
	return cmd
}

// parseReportDate reads --date in loc; empty means today.
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

// dayReport asks the daemon, then reads the attack log. Lines the log
// could not use are a warning: the report of the rest still stands.
func dayReport(cmd *cobra.Command, c *conf.Config, day time.Time, loc *time.Location) (store.Report, error) {
	if r, ok, err := reportFromDaemon(cmd, c, day, loc); err != nil {
		return store.Report{}, err
	} else if ok {
		return r, nil
	}
	r, skipped, err := store.BuildReport(c.State.Dir, day, loc)
	if err != nil {
		return store.Report{}, err
	}
	// Sources only dropped (never blocked) have no country in the log.
	if db, err := geoip.Open(c.GeoIP.Database); err == nil {
		r.FillCountries(db.Country)
	}
	if skipped > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: skipped %s in %s\n",
			plural(skipped, "unreadable line", "unreadable lines"), store.AttackLogPath(c.State.Dir, r.Date))
	}
	return r, nil
}

func writeReportJSON(w io.Writer, r store.Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// writeReportText prints the report for an operator. A quiet day is one
// line, not 24 rows of zeros; any other day has every section and all 24
// hours, so days compare at a glance.
func writeReportText(w io.Writer, r store.Report) error {
	var b strings.Builder
	title := "sipprot attack report for " + r.Date
	if d, err := time.Parse(time.DateOnly, r.Date); err == nil {
		title += " (" + d.Weekday().String() + ")"
	}
	fmt.Fprintf(&b, "%s\n%s\n\n", title, strings.Repeat("=", len(title)))
	if r.Quiet() {
		b.WriteString("A quiet day: no attack stopped and no packet dropped.\n")
		if r.BlocksLifted > 0 {
			fmt.Fprintf(&b, "Blocks lifted: %d\n", r.BlocksLifted)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	writeTable(&b, "", []string{"", ""}, []bool{false, true}, [][]string{
		{"Attacks stopped", itoa(r.Attacks)},
		{"Blocks made", itoa(r.BlocksMade)},
		{"  made permanent", itoa(r.MadePermanent)},
		{"Blocks lifted", itoa(r.BlocksLifted)},
		{"Packets dropped", utoa(r.Dropped)},
	})

	b.WriteString("\nAttacks per reason\n")
	writeCounts(&b, r.AttacksByReason)
	b.WriteString("\nPackets dropped per reason\n")
	writeCounts(&b, r.DroppedByReason)

	fmt.Fprintf(&b, "\nTop sources (at most %d, by blocks then dropped packets)\n", store.ReportTopSources)
	if len(r.TopSources) == 0 {
		b.WriteString("  none\n")
	} else {
		var rows [][]string
		for _, s := range r.TopSources {
			perm := ""
			if s.Permanent {
				perm = "yes"
			}
			rows = append(rows, []string{s.IP, orDash(safeField(s.Country)), orDash(safeField(s.Reason)),
				itoa(s.Blocks), utoa(s.Dropped), orDash(perm), quoteUserAgent(s.UserAgent)})
		}
		writeTable(&b, "  ", []string{"IP", "COUNTRY", "REASON", "BLOCKS", "DROPPED", "PERMANENT", "USER-AGENT"},
			[]bool{false, false, false, true, true, false, false}, rows)
	}

	b.WriteString("\nHour by hour\n")
	var rows [][]string
	for _, h := range r.Hours {
		rows = append(rows, []string{fmt.Sprintf("%02d:00", h.Hour), itoa(h.Attacks), itoa(h.BlocksLifted), utoa(h.Dropped)})
	}
	writeTable(&b, "  ", []string{"HOUR", "ATTACKS", "LIFTED", "DROPPED"}, []bool{false, true, true, true}, rows)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCounts prints name/count pairs, the largest first.
func writeCounts[N int | uint64](b *strings.Builder, m map[string]N) {
	if len(m) == 0 {
		b.WriteString("  none\n")
		return
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Or(cmp.Compare(m[y], m[x]), strings.Compare(x, y))
	})
	rows := make([][]string, 0, len(names))
	for _, k := range names {
		rows = append(rows, []string{safeField(k), utoa(uint64(m[k]))})
	}
	writeTable(b, "  ", []string{"", ""}, []bool{false, true}, rows)
}

// writeTable prints rows in columns two spaces apart, right-aligning the
// columns marked so. A header of empty strings prints no header line.
func writeTable(b *strings.Builder, indent string, header []string, right []bool, rows [][]string) {
	width := make([]int, len(header))
	all := rows
	if strings.Join(header, "") != "" {
		all = append([][]string{header}, rows...)
	}
	for _, row := range all {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range all {
		line := indent
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				line += "  "
			}
			if right[i] {
				line += pad + cell
			} else {
				line += cell + pad
			}
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
}

// quoteUserAgent quotes a User-Agent, which the attacker chose: escapes
// keep control characters and terminal sequences off the operator's
// screen, and a long one is cut.
func quoteUserAgent(ua string) string {
	if ua == "" {
		return "-"
	}
	if utf8.RuneCountInString(ua) > maxUserAgentWidth {
		r := []rune(ua)
		return strconv.Quote(string(r[:maxUserAgentWidth-3])) + "..."
	}
	return strconv.Quote(ua)
}

// safeField prints a field from the log as is when it is plain, quoted
// otherwise: a hand-edited or damaged log must not reach the terminal raw.
func safeField(s string) string {
	for _, c := range s {
		if c <= ' ' || c > '~' || c == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoa(n int) string    { return strconv.Itoa(n) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }
