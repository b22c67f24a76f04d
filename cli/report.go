package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sipprot/sipprot/attacks"
	"github.com/spf13/cobra"
)

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
			r, err := opts.service(cmd).Report(cmdContext(cmd), date)
			if r != nil {
				notes(cmd, r.Notes)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeReportJSON(cmd.OutOrStdout(), r.Report)
			}
			return writeReportText(cmd.OutOrStdout(), r.Report)
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "the day to report, YYYY-MM-DD (default today)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	cmd.RegisterFlagCompletionFunc("date", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := loadConfig(cmd, opts)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		days, _ := attacks.Days(c.State.Dir)
		slices.Reverse(days) // the latest first
		return days, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	})
	return cmd
}

func writeReportJSON(w io.Writer, r attacks.Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// writeForged prints the counts of forged-looking traffic that made no
// failure, only on days that had some.
func writeForged(b *strings.Builder, r attacks.Report) {
	if r.UnboundCredentials == 0 && r.ProvenRefused == 0 {
		return
	}
	fmt.Fprintf(b, "Credentials answering no challenge sent to their source: %d\n", r.UnboundCredentials)
	fmt.Fprintf(b, "Failures refused for a proven source: %d\n", r.ProvenRefused)
}

// writeReportText prints the report for an operator. A quiet day is one
// line, not 24 rows of zeros; any other day has every section and all 24
// hours, so days compare at a glance.
func writeReportText(w io.Writer, r attacks.Report) error {
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
		writeForged(&b, r)
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
	writeForged(&b, r)

	b.WriteString("\nAttacks per reason\n")
	writeCounts(&b, r.AttacksByReason)
	b.WriteString("\nPackets dropped per reason\n")
	writeCounts(&b, r.DroppedByReason)

	fmt.Fprintf(&b, "\nTop sources (at most %d, by blocks then dropped packets)\n", attacks.TopSources)
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
