package cli

import (
	"errors"
	"fmt"

	"github.com/sipprot/sipprot/conf"
	"github.com/spf13/cobra"
)

// loadConfig loads the config that --config names. Only a file the user
// named explicitly must exist; a missing default file means the embedded
// defaults. Every command that needs the config goes through here so they
// all agree with `config check`.
func loadConfig(cmd *cobra.Command, opts *options) (*conf.Config, error) {
	return conf.Load(opts.configPath, opts.configGiven(cmd))
}

func newConfigCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the config, or print it",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "check",
			Short: "Validate the config; print every problem as FILE:LINE: key: problem",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := loadConfig(cmd, opts)
				var ce *conf.Error
				if errors.As(err, &ce) {
					// One FILE:LINE: problem per line, unprefixed, so editors
					// and grep can jump to each; then a one-line verdict.
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					return &exitError{code: 1, err: fmt.Errorf("invalid config %s", ce.File)}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s\n", cfg.Source())
				return nil
			},
		},
		&cobra.Command{
			Use:   "show",
			Short: "Print the effective config: the file on top of the defaults",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := loadConfig(cmd, opts)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "# Effective sipprot config, from %s.\n\n", cfg.Source())
				return cfg.WriteTOML(cmd.OutOrStdout())
			},
		},
		&cobra.Command{
			Use:   "defaults",
			Short: "Print the built-in defaults, every key commented",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if _, err := cmd.OutOrStdout().Write(conf.DefaultsTOML()); err != nil {
					return fmt.Errorf("write defaults: %w", err)
				}
				return nil
			},
		},
	)
	return cmd
}
