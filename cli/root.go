// Package cli holds sipprot's command line: one cobra command per file.
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// DefaultConfigPath is where sipprot looks for its config when --config is
// not given. A missing file at this path means the embedded defaults.
const DefaultConfigPath = "/etc/sipprot/sipprot.conf"

// options are the flags every command shares.
type options struct {
	configPath string
}

// configGiven reports whether the user named a config file, so a missing
// file is an error rather than "use the defaults".
func (o *options) configGiven(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("config")
	return f != nil && f.Changed
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	opts := &options{}
	root := &cobra.Command{
		Use:           "sipprot",
		Short:         "Inline SIP firewall against brute-force, scans and floods",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&opts.configPath, "config", DefaultConfigPath, "config file (TOML)")
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(opts),
		newReplayCmd(opts),
		newStatusCmd(opts),
		newAllowCmd(opts),
		newDenyCmd(opts),
		newCheckCmd(opts),
		newRulesCmd(opts),
		newRunCmd(opts),
		newGeoIPCmd(opts),
		newReportCmd(opts),
		newUnblockCmd(opts),
		newAdminCmd(opts),
		newNotifyCmd(opts),
	)
	return root
}

// Execute runs the command line and returns the process exit status.
func Execute() int {
	err := newRoot().Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "sipprot:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
