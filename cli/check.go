package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/store"
	"github.com/spf13/cobra"
)

// matchJSON is a list entry that holds the checked address.
type matchJSON struct {
	Network string `json:"network"`
	Note    string `json:"note"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// checkJSON is `check --json`: the entries holding the address on each
// list, its dynamic block in force (null if none), and the rule that wins.
type checkJSON struct {
	IP      netip.Addr       `json:"ip"`
	Allow   []matchJSON      `json:"allow"`
	Deny    []matchJSON      `json:"deny"`
	Dynamic *store.BlockJSON `json:"dynamic"`
	// Country is the address's country in the GeoIP database, absent when
	// no database is usable or it does not know the address;
	// CountryBlocked says it is one of [sip] blocked_countries.
	Country        string `json:"country,omitempty"`
	CountryBlocked bool   `json:"country_blocked,omitempty"`
	Winner         string `json:"winner"`
}

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
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			a, err := parseCheckAddr(args[0])
			if err != nil {
				return err
			}
			allow, err := store.ReadListDoc(c.Lists.Allow)
			if err != nil {
				return err
			}
			deny, err := store.ReadListDoc(c.Lists.Deny)
			if err != nil {
				return err
			}
			blocks, live, err := currentBlocks(cmd, c)
			if err != nil {
				return err
			}
			if !live {
				notRunning(cmd.ErrOrStderr(), c, "dynamic blocks as it last saved them")
			}
			res := checkJSON{IP: a, Allow: matchesJSON(allow.Holding(a)), Deny: matchesJSON(deny.Holding(a))}
			for _, b := range blocks {
				if b.Addr.Unmap() == a {
					j := store.ToJSON(b)
					res.Dynamic = &j
				}
			}
			if db, err := geoip.Open(c.GeoIP.Database); err == nil {
				if cc, ok := db.Country(a); ok {
					res.Country = cc
					res.CountryBlocked = slices.Contains(c.SIP.BlockedCountries, conf.Country(cc))
				}
			}
			res.Winner = winner(&res).String()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			writeCheck(cmd.OutOrStdout(), &res)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// parseCheckAddr takes one address; a network is refused since "which
// rule wins" is a question about one source.
func parseCheckAddr(s string) (netip.Addr, error) {
	p, err := store.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if !p.IsSingleIP() {
		return netip.Addr{}, fmt.Errorf("check takes one address, not the network %s", p)
	}
	return p.Addr(), nil
}

// winner asks the engine's order which of the address rules that hold
// for r decides.
func winner(r *checkJSON) policy.Reason {
	return policy.AddressWinner(func(rule policy.Reason) bool {
		switch rule {
		case policy.ReasonAllow:
			return len(r.Allow) > 0
		case policy.ReasonDeny:
			return len(r.Deny) > 0
		case policy.ReasonDynamic:
			return r.Dynamic != nil
		case policy.ReasonCountry:
			return r.CountryBlocked
		}
		return false
	})
}

func matchesJSON(ms []store.Match) []matchJSON {
	out := []matchJSON{}
	for _, m := range ms {
		out = append(out, matchJSON{Network: m.Prefix.String(), Note: m.Note, File: m.File, Line: m.Line})
	}
	return out
}

func writeCheck(w io.Writer, r *checkJSON) {
	fmt.Fprintf(w, "address:  %s\n", r.IP)
	list := func(label string, ms []matchJSON) {
		if len(ms) == 0 {
			fmt.Fprintf(w, "%-9s none\n", label)
			return
		}
		for i, m := range ms {
			s := m.Network
			if p, err := netip.ParsePrefix(m.Network); err == nil {
				s = store.FormatPrefix(p)
			}
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
	c, err := loadConfig(cmd, opts)
	if err != nil {
		return nil
	}
	var out []string
	for _, path := range []string{c.Lists.Allow, c.Lists.Deny} {
		entries, _ := store.LoadList(path)
		for _, e := range entries {
			if e.Prefix.IsSingleIP() {
				out = append(out, e.Prefix.Addr().String())
			}
		}
	}
	return append(out, blockedAddresses(cmd, c)...)
}

// blockedAddresses completes unblock's arguments: the addresses with a
// dynamic block in force.
func blockedAddresses(cmd *cobra.Command, c *conf.Config) []string {
	blocks, _, _ := currentBlocks(cmd, c)
	var out []string
	for _, b := range blocks {
		out = append(out, b.Addr.String())
	}
	return out
}
