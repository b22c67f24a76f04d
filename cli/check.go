package cli

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sipprot/sipprot/manage"
	"github.com/spf13/cobra"
)

func newCheckCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check IP [--json]",
		Short: "Tell which lists hold an address, its dynamic block, and which rule wins",
		Long: `Tell which lists hold an address (the address itself or networks around
it), its dynamic block if one is in force (live from the running daemon,
or as it last saved it when it is not running),
its country when a GeoIP database is usable, and which rule wins, in the
engine's order: allow, then deny, then the dynamic block, then the
country; "none" means the address is judged by the other rules
(User-Agent, failures, flood).`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return knownAddresses(cmd, opts), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).Check(cmdContext(cmd), args[0])
			if err != nil {
				return err
			}
			notes(cmd, r.Notes)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			writeCheck(cmd.OutOrStdout(), r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func writeCheck(w io.Writer, r *manage.Check) {
	fmt.Fprintf(w, "address:  %s\n", r.IP)
	list := func(label string, ms []manage.Match) {
		if len(ms) == 0 {
			fmt.Fprintf(w, "%-9s none\n", label)
			return
		}
		for i, m := range ms {
			s := formatNetwork(m.Network)
			if m.Note != "" {
				s += fmt.Sprintf(" %q", m.Note)
			}
			fmt.Fprintf(w, "%-9s %s (%s:%d)\n", label, s, m.File, m.Line)
			if i == 0 {
				label = ""
			}
		}
	}
	list("allow:", r.Allow)
	list("deny:", r.Deny)
	if b := r.Dynamic; b == nil {
		fmt.Fprintln(w, "dynamic:  none")
	} else {
		span := "permanent"
		if !b.Permanent {
			span = "temporary, until " + b.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "dynamic:  %s, %s, blocked %d time(s), %d packets dropped, last %s\n",
			b.Reason, span, b.Count, b.Hits, b.Last.Format(time.RFC3339))
		if b.UserAgent != "" || b.Country != "" {
			fmt.Fprintf(w, "          user-agent %q, country %q\n", b.UserAgent, b.Country)
		}
	}
	if f := r.Fleet; f != nil {
		fmt.Fprintf(w, "fleet:    %s by %s (%s), until %s\n", f.Prefix, f.Origin, f.Scenario, f.Until.Format(time.RFC3339))
	}
	if r.Country != "" {
		blocked := ""
		if r.CountryBlocked {
			blocked = " (in blocked_countries)"
		}
		fmt.Fprintf(w, "country:  %s%s\n", r.Country, blocked)
	}
	why := map[string]string{
		"allow":   "never blocked: the allow list wins over the deny list and dynamic blocks",
		"deny":    "every packet from it is dropped",
		"dynamic": "its packets are dropped until the block ends",
		"fleet":   "every packet from it is dropped: another host of the fleet, or CrowdSec, blocked it",
		"country": "every packet from it is dropped: its country is in blocked_countries",
		"none":    "on no list; its packets are judged by the country, User-Agent, failure and flood rules",
	}[r.Winner]
	if r.Winner == "dynamic" && r.Dynamic.Permanent {
		why = "its packets are dropped until `sipprot unblock " + r.IP.String() + "`"
	}
	fmt.Fprintf(w, "winner:   %s (%s)\n", r.Winner, why)
}

// knownAddresses completes check's argument: the hosts on both lists and
// the blocked addresses.
func knownAddresses(cmd *cobra.Command, opts *options) []string {
	svc := opts.service(cmd)
	var out []string
	for _, k := range []manage.Kind{manage.Allow, manage.Deny} {
		l, err := svc.List(k)
		if err != nil {
			continue // completion offers what it can
		}
		for _, e := range l.Entries {
			if p, err := netip.ParsePrefix(e.Network); err == nil && p.IsSingleIP() {
				out = append(out, p.Addr().String())
			}
		}
	}
	return append(out, blockedAddresses(cmd, opts)...)
}
