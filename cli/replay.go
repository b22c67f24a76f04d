package cli

import (
	"encoding/json"

	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/replay"
	"github.com/spf13/cobra"
)

func newReplayCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay [--config FILE] [--json] CAPTURE.pcap...",
		Short: "Run captures through the decision engine offline",
		Long: `Replay runs pcap or pcapng captures through the same engine the daemon
uses, with the capture timestamps as its clock, and tells what sipprot would
have done with the given config: packets accepted and dropped, by reason, and
every source it would have blocked. The allow and deny lists of the config
apply.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			allow, deny, err := lists.LoadPair(c.Lists.Allow, c.Lists.Deny)
			if err != nil {
				return err
			}
			res, err := replay.Run(policy.Compile(c), func(e *policy.Engine) error {
				e.SetLists(lists.PrefixSet(allow), lists.PrefixSet(deny))
				return nil
			}, args...)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return res.Summary(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}
