package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
	"github.com/spf13/cobra"
)

func newStatusCmd(opts *options) *cobra.Command {
	var all, allow, deny, dynamic, asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--all|--allow|--deny|--dynamic] [--json]",
		Short: "Print the number of IPs per list and the daemon's health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := opts.service(cmd).Status(cmdContext(cmd))
			if err != nil {
				return err
			}
			if st.Warning != "" {
				notes(cmd, []string{st.Warning})
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeStatusJSON(out, st, all || allow, all || deny, all || dynamic)
			}
			writeStatusTable(out, []statusRow{{"Allow", len(st.Allow)}, {"Deny", len(st.Deny)},
				{"Dynamic (permanent)", len(st.Permanent)}, {"Dynamic (temporary)", len(st.Temporary)}})
			writeDaemonLine(out, st.Daemon, st.Now)
			if st.GeoIP != nil {
				fmt.Fprintln(out, geoIPStatusLine(*st.GeoIP, st.Countries))
			}
			fmt.Fprintln(out, st.Notify.Summary())
			if all || allow {
				writeEntries(out, "Allow", st.Allow)
			}
			if all || deny {
				writeEntries(out, "Deny", st.Deny)
			}
			if all || dynamic {
				writeBlocks(out, append(st.Permanent, st.Temporary...))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "also print the allow, deny and dynamic lists")
	f.BoolVar(&allow, "allow", false, "also print the allow list")
	f.BoolVar(&deny, "deny", false, "also print the deny list")
	f.BoolVar(&dynamic, "dynamic", false, "also print the dynamic block list")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

type statusRow struct {
	name string
	n    int
}

// writeStatusTable prints the original's table: a rule under every row,
// the number column as wide as its widest value.
func writeStatusTable(w io.Writer, rows []statusRow) {
	const head1, head2 = "LIST", "NUM OF IPS"
	w1 := len("Dynamic (permanent)")
	w2 := len(head2)
	for _, r := range rows {
		w1 = max(w1, len(r.name))
		w2 = max(w2, len(fmt.Sprint(r.n)))
	}
	rule := "+" + strings.Repeat("-", w1+2) + "+" + strings.Repeat("-", w2+2) + "+"
	center := func(s string, n int) string {
		left := (n - len(s)) / 2
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", n-len(s)-left)
	}
	fmt.Fprintln(w, rule)
	fmt.Fprintf(w, "| %s | %s |\n", center(head1, w1), center(head2, w2))
	fmt.Fprintln(w, rule)
	for _, r := range rows {
		fmt.Fprintf(w, "| %-*s | %*d |\n", w1, r.name, w2, r.n)
		fmt.Fprintln(w, rule)
	}
}

func writeDaemonLine(w io.Writer, st *control.Status, now time.Time) {
	switch {
	case st == nil:
		fmt.Fprintln(w, "daemon: never ran with this state directory")
		return
	case !st.Running:
		fmt.Fprintf(w, "daemon: stopped (at %s)\n", st.Updated.Format(time.RFC3339))
		return
	case st.Stale(now):
		fmt.Fprintf(w, "daemon: NOT RESPONDING (pid %d, last update %s ago); fail-open keeps SIP flowing\n",
			st.PID, now.Sub(st.Updated).Round(time.Second))
		return
	}
	fmt.Fprintf(w, "daemon: running (pid %d, since %s), %d packets judged\n", st.PID, st.Started.Format(time.RFC3339), st.Packets)
	// Always shown, 0 included: the operator can see that no block went
	// without its email and attack-log line.
	fmt.Fprintf(w, "block events lost: %d\n", st.EventsLost)
	// Shown once there is something to show: forged failures that could
	// not get a source blocked.
	if st.UnboundCredentials > 0 || st.ProvenRefused > 0 {
		fmt.Fprintf(w, "credentials answering no challenge sent to their source: %d; failures refused for a proven source: %d\n",
			st.UnboundCredentials, st.ProvenRefused)
	}
	for _, name := range slices.Sorted(maps.Keys(st.Failed)) {
		fmt.Fprintf(w, "service %s: FAILED: %s (the rest runs; restart sipprot to retry it)\n", name, st.Failed[name])
	}
	if f := st.Fleet; f != nil {
		writeFleetLine(w, f, now)
	}
	for _, q := range st.Queues {
		health := "healthy"
		if !q.Healthy {
			health = "UNHEALTHY: " + q.Problem
		}
		fmt.Fprintf(w, "queue %d: %s, %d packets (%d dropped), %d netlink errors (%d ENOBUFS), %d lost to fail-open, kernel dropped %d, user dropped %d\n",
			q.Number, health, q.Packets, q.Dropped, q.Errors, q.ENOBUFS, q.Lost, q.KernelDropped, q.UserDropped)
	}
}

func writeEntries(w io.Writer, title string, entries []lists.Entry) {
	fmt.Fprintf(w, "\n%s list:\n", title)
	for _, e := range entries {
		fmt.Fprintf(w, "  %-43s %s\n", lists.FormatPrefix(e.Prefix), e.Note)
	}
}

func writeBlocks(w io.Writer, blocks []policy.BlockState) {
	fmt.Fprintln(w, "\nDynamic block list:")
	for _, b := range blocks {
		until := "permanent"
		if !b.Permanent {
			until = "until " + b.Until.Local().Format(time.DateTime)
		}
		cc := b.Country
		if cc == "" {
			cc = "-"
		}
		fmt.Fprintf(w, "  %-39s %-10s country %-2s blocked %d time(s), %d packets dropped, first %s, last %s, %s, user-agent %q\n",
			b.Addr, b.Reason, cc, b.Count, b.Hits, b.First.Local().Format(time.DateTime), b.Last.Local().Format(time.DateTime), until, b.UserAgent)
	}
}

func writeStatusJSON(w io.Writer, st *manage.Status, withAllow, withDeny, withDynamic bool) error {
	doc := map[string]any{
		"allow":             len(st.Allow),
		"deny":              len(st.Deny),
		"dynamic_permanent": len(st.Permanent),
		"dynamic_temporary": len(st.Temporary),
		"daemon_running":    st.DaemonRunning(),
		"daemon":            st.Daemon,
		"notify":            st.Notify,
	}
	if withAllow {
		doc["allow_list"] = manage.EntriesJSON(st.Allow)
	}
	if withDeny {
		doc["deny_list"] = manage.EntriesJSON(st.Deny)
	}
	if withDynamic {
		bl := []savedblocks.JSON{}
		for _, b := range append(st.Permanent, st.Temporary...) {
			bl = append(bl, savedblocks.ToJSON(b))
		}
		doc["dynamic_list"] = bl
	}
	return writeJSON(w, doc)
}

// writeFleetLine is the fleet's line: the LAPI link, what it enforces,
// what waits to be shared.
func writeFleetLine(w io.Writer, f *control.FleetStatus, now time.Time) {
	link := "connected"
	if !f.PullConnected && !f.PushConnected {
		link = "NOT CONNECTED"
	}
	fmt.Fprintf(w, "fleet: %s to %s", link, f.LAPI)
	if !f.LastPull.IsZero() {
		fmt.Fprintf(w, ", last pull %s ago", now.Sub(f.LastPull).Round(100*time.Millisecond))
	}
	var by []string
	for _, o := range slices.Sorted(maps.Keys(f.InForce)) {
		by = append(by, fmt.Sprintf("%s %d", o, f.InForce[o]))
	}
	fmt.Fprintf(w, "; %d blocks enforced", f.Enforced)
	if len(by) > 0 {
		fmt.Fprintf(w, " (decisions by origin: %s)", strings.Join(by, ", "))
	}
	fmt.Fprintf(w, "; %d blocks shared, %d waiting in the outbox", f.Pushed, f.Outbox)
	if f.Refused > 0 || f.NotShared > 0 {
		fmt.Fprintf(w, "; %d decisions refused, %d blocks not shared", f.Refused, f.NotShared)
	}
	fmt.Fprintln(w)
	for _, e := range []struct{ what, err string }{{"pull", f.LastPullErr}, {"push", f.LastPushErr}} {
		if e.err != "" {
			fmt.Fprintf(w, "fleet %s: %s\n", e.what, e.err)
		}
	}
}
