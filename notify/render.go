package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
)

// Rendering. Attacker text (User-Agent) goes only into bodies, quoted as
// a Go string in both parts, so a CR, LF or escape sequence shows as \r,
// \n, \x1b; in the HTML part html/template also escapes it, in text
// nodes only.

// funcs are the templates' helpers: q quotes attacker text.
var funcs = template.FuncMap{"q": strconv.Quote}

const timeLayout = "2006-01-02 15:04:05 MST"

// alertData is what an alert shows.
type alertData struct {
	Host       string
	Entries    []alertRow
	MoreSrc    int // sources blocked but not listed (over the batch limit)
	MoreBlocks int
	Blocks     int // every block in this alert, listed or not
	Sources    int
	Every      string
}

type alertRow struct {
	Addr, Reason, UserAgent, Country string
	At, Until                        string // Until: "permanent" or a time
	InAlert, Total                   int
	Permanent                        bool
}

func renderAlert(host string, b *batch, every time.Duration, loc *time.Location) (subject, text, html string) {
	d := alertData{Host: host, MoreSrc: b.MoreSources, MoreBlocks: b.MoreBlocks, Every: durationText(every)}
	d.Blocks = b.MoreBlocks
	for _, e := range b.Entries {
		r := alertRow{Addr: e.Addr.Unmap().String(), Reason: e.Reason, UserAgent: e.UserAgent, Country: e.Country,
			At: e.Last.In(loc).Format(timeLayout), InAlert: e.Blocks, Total: e.Count, Permanent: e.Permanent, Until: "permanent"}
		if !e.Permanent && !e.Until.IsZero() {
			r.Until = e.Until.In(loc).Format(timeLayout)
		}
		if r.Country == "" {
			r.Country = "-"
		}
		d.Blocks += e.Blocks
		d.Entries = append(d.Entries, r)
	}
	sources := len(b.Entries) + b.MoreSources
	d.Sources = sources
	subject = fmt.Sprintf("sipprot: %s blocked on %s", plural(sources, "source", "sources"), host)

	var t strings.Builder
	fmt.Fprintf(&t, "sipprot on %s blocked %s (%s).\n", host, plural(sources, "source", "sources"), plural(d.Blocks, "block", "blocks"))
	for _, r := range d.Entries {
		fmt.Fprintf(&t, "\n%s\n", r.Addr)
		tw := tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  reason:\t%s\n", r.Reason)
		fmt.Fprintf(tw, "  User-Agent:\t%q\n", r.UserAgent)
		fmt.Fprintf(tw, "  country:\t%s\n", r.Country)
		fmt.Fprintf(tw, "  blocked at:\t%s\n", r.At)
		fmt.Fprintf(tw, "  until:\t%s\n", r.Until)
		fmt.Fprintf(tw, "  blocks:\t%d in this email, %d in all\n", r.InAlert, r.Total)
		fmt.Fprintf(tw, "  unblock:\tsipprot unblock %s\n", r.Addr)
		tw.Flush()
	}
	if d.MoreSrc > 0 {
		fmt.Fprintf(&t, "\nAnd %d more %s (%s), not listed: see sipprot status --dynamic.\n",
			d.MoreSrc, noun(d.MoreSrc, "source", "sources"), plural(d.MoreBlocks, "block", "blocks"))
	}
	fmt.Fprintf(&t, "\nTo lift a block: sipprot unblock ADDRESS. To never block an address (an office,\n"+
		"a trunk): sipprot allow add ADDRESS --note \"why\".\n"+
		"At most one such email per %s (notify.per_attack_every); later blocks come in the next one.\n", d.Every)
	return subject, t.String(), execHTML(alertHTML, d)
}

var alertHTML = template.Must(template.New("alert").Funcs(funcs).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sipprot on {{.Host}}</title></head>
<body style="font-family: sans-serif">
<p>sipprot on <b>{{.Host}}</b> blocked {{.Sources}} source(s), {{.Blocks}} block(s).</p>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Address</th><th>Reason</th><th>User-Agent</th><th>Country</th><th>Blocked at</th><th>Until</th><th>Blocks (this email / all)</th><th>To unblock</th></tr>
{{range .Entries}}<tr><td>{{.Addr}}</td><td>{{.Reason}}</td><td><code>{{q .UserAgent}}</code></td><td>{{.Country}}</td><td>{{.At}}</td><td>{{.Until}}</td><td>{{.InAlert}} / {{.Total}}</td><td><code>sipprot unblock {{.Addr}}</code></td></tr>
{{end}}</table>
{{if .MoreSrc}}<p>And {{.MoreSrc}} more source(s) ({{.MoreBlocks}} block(s)), not listed: see <code>sipprot status --dynamic</code>.</p>{{end}}
<p>To lift a block: <code>sipprot unblock ADDRESS</code>. To never block an address (an office, a trunk):
<code>sipprot allow add ADDRESS --note "why"</code>.<br>
At most one such email per {{.Every}} (notify.per_attack_every); later blocks come in the next one.</p>
</body></html>
`))

// dailyData is what a daily summary shows.
type dailyData struct {
	Host            string
	R               attacks.Report
	AttacksByReason []kv
	DroppedByReason []kv
	Hours           []attacks.Hour // only hours with something
}

type kv struct {
	K string
	V uint64
}

func sortedKV[V int | uint64](m map[string]V) []kv {
	var out []kv
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{k, uint64(m[k])})
	}
	// Largest first; ties in name order (the sort above, kept stable).
	slices.SortStableFunc(out, func(a, b kv) int {
		switch {
		case a.V > b.V:
			return -1
		case a.V < b.V:
			return 1
		}
		return 0
	})
	return out
}

func renderDaily(host string, r attacks.Report) (subject, text, html string) {
	if r.Quiet() {
		subject = fmt.Sprintf("sipprot daily report for %s on %s: all quiet", r.Date, host)
		text = fmt.Sprintf("sipprot daily report for %s on %s\n\nAll quiet: no attack and no packet dropped that day.\n", r.Date, host)
		return subject, text, execHTML(quietHTML, dailyData{Host: host, R: r})
	}
	d := dailyData{Host: host, R: r, AttacksByReason: sortedKV(r.AttacksByReason), DroppedByReason: sortedKV(r.DroppedByReason)}
	for _, h := range r.Hours {
		if h.Attacks > 0 || h.BlocksLifted > 0 || h.Dropped > 0 {
			d.Hours = append(d.Hours, h)
		}
	}
	subject = fmt.Sprintf("sipprot daily report for %s on %s: %s", r.Date, host, plural(r.Attacks, "attack", "attacks"))

	var t strings.Builder
	fmt.Fprintf(&t, "sipprot daily report for %s on %s\n\n", r.Date, host)
	tw := tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Attacks (blocks made):\t%d\n", r.Attacks)
	for _, e := range d.AttacksByReason {
		fmt.Fprintf(tw, "  %s\t%d\n", e.K, e.V)
	}
	fmt.Fprintf(tw, "Blocks made:\t%d\n", r.BlocksMade)
	fmt.Fprintf(tw, "Made permanent:\t%d\n", r.MadePermanent)
	fmt.Fprintf(tw, "Blocks lifted:\t%d\n", r.BlocksLifted)
	fmt.Fprintf(tw, "Packets dropped:\t%d\n", r.Dropped)
	for _, e := range d.DroppedByReason {
		fmt.Fprintf(tw, "  %s\t%d\n", e.K, e.V)
	}
	tw.Flush()
	if len(r.TopSources) > 0 {
		t.WriteString("\nTop sources\n")
		tw = tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ADDRESS\tCOUNTRY\tBLOCKS\tDROPPED\tREASON\tPERMANENT\tUSER-AGENT")
		for _, s := range r.TopSources {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%q\n", s.IP, dash(s.Country), s.Blocks, s.Dropped, dash(s.Reason), yesNo(s.Permanent), s.UserAgent)
		}
		tw.Flush()
	}
	if len(d.Hours) > 0 {
		t.WriteString("\nBy hour (hours with activity)\n")
		tw = tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  HOUR\tATTACKS\tLIFTED\tDROPPED")
		for _, h := range d.Hours {
			fmt.Fprintf(tw, "  %02d:00\t%d\t%d\t%d\n", h.Hour, h.Attacks, h.BlocksLifted, h.Dropped)
		}
		tw.Flush()
	}
	t.WriteString("\nThe same report: sipprot report --date " + r.Date + "\n")
	return subject, t.String(), execHTML(dailyHTML, d)
}

var quietHTML = template.Must(template.New("quiet").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sipprot daily report</title></head>
<body style="font-family: sans-serif">
<p>sipprot daily report for {{.R.Date}} on <b>{{.Host}}</b></p>
<p>All quiet: no attack and no packet dropped that day.</p>
</body></html>
`))

var dailyHTML = template.Must(template.New("daily").Funcs(funcs).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sipprot daily report</title></head>
<body style="font-family: sans-serif">
<h2>sipprot daily report for {{.R.Date}} on {{.Host}}</h2>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th align="left">Attacks (blocks made)</th><td align="right">{{.R.Attacks}}</td></tr>
{{range .AttacksByReason}}<tr><td>&nbsp;&nbsp;{{.K}}</td><td align="right">{{.V}}</td></tr>
{{end}}<tr><th align="left">Blocks made</th><td align="right">{{.R.BlocksMade}}</td></tr>
<tr><th align="left">Made permanent</th><td align="right">{{.R.MadePermanent}}</td></tr>
<tr><th align="left">Blocks lifted</th><td align="right">{{.R.BlocksLifted}}</td></tr>
<tr><th align="left">Packets dropped</th><td align="right">{{.R.Dropped}}</td></tr>
{{range .DroppedByReason}}<tr><td>&nbsp;&nbsp;{{.K}}</td><td align="right">{{.V}}</td></tr>
{{end}}</table>
{{if .R.TopSources}}<h3>Top sources</h3>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Address</th><th>Country</th><th>Blocks</th><th>Dropped</th><th>Reason</th><th>Permanent</th><th>User-Agent</th></tr>
{{range .R.TopSources}}<tr><td>{{.IP}}</td><td>{{.Country}}</td><td align="right">{{.Blocks}}</td><td align="right">{{.Dropped}}</td><td>{{.Reason}}</td><td>{{if .Permanent}}yes{{else}}no{{end}}</td><td><code>{{q .UserAgent}}</code></td></tr>
{{end}}</table>{{end}}
{{if .Hours}}<h3>By hour</h3>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Hour</th><th>Attacks</th><th>Lifted</th><th>Dropped</th></tr>
{{range .Hours}}<tr><td>{{printf "%02d:00" .Hour}}</td><td align="right">{{.Attacks}}</td><td align="right">{{.BlocksLifted}}</td><td align="right">{{.Dropped}}</td></tr>
{{end}}</table>{{end}}
<p>The same report: <code>sipprot report --date {{.R.Date}}</code></p>
</body></html>
`))

func renderTest(host, server string, now time.Time) (subject, text string) {
	subject = "sipprot: test email from " + host
	text = fmt.Sprintf("This is a test email from sipprot on %s, sent through %s at %s.\n"+
		"Notifications to this address work.\n", host, server, now.Format(timeLayout))
	return subject, text
}

// execHTML runs a template whose data cannot make it fail; a failure is
// a bug in the template, and the text part still goes out.
func execHTML(t *template.Template, data any) string {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return ""
	}
	return b.String()
}

// plural writes "1 source", "2 sources".
func plural(n int, one, many string) string { return fmt.Sprintf("%d %s", n, noun(n, one, many)) }

func noun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// durationText writes 1h rather than 1h0m0s, as the config does.
func durationText(d time.Duration) string { return conf.Duration{Duration: d}.String() }
