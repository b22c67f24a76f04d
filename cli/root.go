// Package cli holds sipprot's command line: one cobra command per file.
// The commands parse flags and print; the operations and their rules are
// package manage's.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/rules"
	"github.com/spf13/cobra"
)

// DefaultConfigPath is where sipprot looks for its config when --config is
// not given. A missing file at this path means the embedded defaults.
const DefaultConfigPath = "/etc/sipprot/sipprot.conf"

// Deps are what the commands take from the world. Execute passes the
// zero value, the real ones; tests pass fakes.
type Deps struct {
	// StdinIsTerminal decides whether a removal may ask for confirmation;
	// nil means stdinIsTerminal.
	StdinIsTerminal func(io.Reader) bool
	// NewFirewall returns the firewall the rules commands change; nil
	// means iptables.
	NewFirewall func(rules.Backend) rules.Firewall
	// Daemon is the running daemon; nil means the control API client on
	// the config's socket.
	Daemon manage.Daemon
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Location cuts reports into days and hours; nil means time.Local.
	Location *time.Location
}

// options are the flags every command shares, and the dependencies.
type options struct {
	configPath string
	deps       Deps
}

// configGiven reports whether the user named a config file, so a missing
// file is an error rather than "use the defaults".
func (o *options) configGiven(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("config")
	return f != nil && f.Changed
}

// service is the operations on the config that --config names, through
// the running daemon when there is one.
func (o *options) service(cmd *cobra.Command) *manage.Service {
	return manage.New(manage.Options{ConfigPath: o.configPath, MustExist: o.configGiven(cmd),
		Daemon: o.deps.Daemon, Now: o.deps.Now, Location: o.deps.Location})
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// NewRoot builds the whole command tree with deps.
func NewRoot(deps Deps) *cobra.Command {
	if deps.StdinIsTerminal == nil {
		deps.StdinIsTerminal = stdinIsTerminal
	}
	if deps.NewFirewall == nil {
		deps.NewFirewall = func(b rules.Backend) rules.Firewall { return rules.NewIPTables(b) }
	}
	opts := &options{deps: deps}
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
	err := NewRoot(Deps{}).Execute()
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
