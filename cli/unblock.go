package cli

import (
	"io"

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
			return blockedAddresses(cmd, opts), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).Unblock(cmdContext(cmd), args)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
}

// blockedAddresses completes unblock's arguments: the addresses with a
// dynamic block in force.
func blockedAddresses(cmd *cobra.Command, opts *options) []string {
	bs, err := opts.service(cmd).Blocks(cmdContext(cmd))
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range bs.Blocks {
		out = append(out, b.Addr.String())
	}
	return out
}
