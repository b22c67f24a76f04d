package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/store"
	"github.com/spf13/cobra"
)

func newUnblockCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "unblock IP...",
		Short: "Lift dynamic blocks, temporary or permanent",
		Long: `Lift the dynamic block of each address, temporary or permanent, and
forget its past blocks (the count toward block_threshold starts again).
The running daemon lets the address through at once. With no daemon
running, the saved state is changed and the next start has no block for
it. Every address is checked first: if one is not an IP address, nothing
is lifted. The allow and deny lists are not touched: a denied address
stays denied.`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return blockedAddresses(cmd, c), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			var bad []error
			for _, s := range args {
				if _, err := netip.ParseAddr(s); err != nil {
					bad = append(bad, fmt.Errorf("%q is not an IP address", s))
				}
			}
			if len(bad) > 0 {
				return fmt.Errorf("nothing unblocked: %w", errors.Join(bad...))
			}
			var res []control.UnblockResult
			err = daemonClient(c).Post(cmdContext(cmd), control.PathUnblock, control.UnblockRequest{IPs: args}, &res)
			live := err == nil
			if errors.Is(err, control.ErrNoDaemon) {
				res, err = unblockSaved(c, args)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !live {
				notRunning(out, c, "changing the saved state")
			}
			writeUnblocked(out, res, live)
			return nil
		},
	}
}

func writeUnblocked(w io.Writer, res []control.UnblockResult, live bool) {
	for _, r := range res {
		if !r.Lifted {
			fmt.Fprintf(w, "%s has no dynamic block\n", r.IP)
			continue
		}
		b := r.Block
		kind := "temporary"
		if b.Permanent {
			kind = "permanent"
		}
		fmt.Fprintf(w, "lifted the %s block of %s (%s, blocked %d time(s), user-agent %q, country %q)",
			kind, r.IP, b.Reason, b.Count, b.UserAgent, b.Country)
		if live {
			fmt.Fprint(w, "; its packets pass now")
		}
		fmt.Fprintln(w)
	}
}

// unblockSaved lifts blocks in the saved state while no daemon runs, as
// the daemon would: the block and its count are forgotten.
func unblockSaved(c *conf.Config, ips []string) ([]control.UnblockResult, error) {
	saved, err := store.LoadBlocks(c.State.Dir)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var res []control.UnblockResult
	changed := false
	for _, s := range ips {
		a := netip.MustParseAddr(s).Unmap()
		r := control.UnblockResult{IP: a.String()}
		kept := saved[:0]
		for _, b := range saved {
			if b.Addr.Unmap() != a {
				kept = append(kept, b)
				continue
			}
			changed = true
			if store.InForce(b, now) {
				j := store.ToJSON(b)
				r.Lifted, r.Block = true, &j
			}
		}
		saved = kept
		res = append(res, r)
	}
	if changed {
		if err := store.SaveBlocks(c.State.Dir, saved, now); err != nil {
			return nil, err
		}
	}
	return res, nil
}
