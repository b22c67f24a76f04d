package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

// The notify commands are manage's recipient operations on the config
// file, and its test email.

func newNotifyCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Manage who gets email notifications, and send a test email",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyAddCmd(opts), newNotifyRemoveCmd(opts), newNotifyListCmd(opts), newNotifyTestCmd(opts))
	return cmd
}

func newNotifyAddCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "add ADDR",
		Short: "Add an email address to notify.recipients",
		Long: `Add an email address to notify.recipients in the config file; the other
lines and comments of the file stay as they are. "Name <addr>" is accepted
and stored as the bare address. A missing default config file is created
with just this setting.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).AddRecipient(cmdContext(cmd), args[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
}

func newNotifyRemoveCmd(opts *options) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "remove ADDR... [--yes]",
		Short: "Remove email addresses from notify.recipients",
		Long: `Remove email addresses from notify.recipients in the config file. Each
must be a recipient, otherwise nothing is removed. It asks for
confirmation when stdin is a terminal, and needs --yes otherwise.`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, r := range c.Notify.Recipients {
				if !slices.Contains(args, r) {
					out = append(out, r)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).RemoveRecipients(cmdContext(cmd), args, opts.confirmer(cmd, yes))
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func newNotifyListCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "Print the notification recipients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := opts.service(cmd).Recipients()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // "Name <addr>" as written
				return enc.Encode(r)
			}
			if len(r.Recipients) == 0 {
				fmt.Fprintln(out, "no recipients: add one with sipprot notify add ADDR")
				return nil
			}
			for _, rc := range r.Recipients {
				fmt.Fprintln(out, rc)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newNotifyTestCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "test [ADDR...]",
		Short: "Send a test email now and print the server's answer",
		Long: `Send a test email through the [smtp] settings, to the given addresses or
else to notify.recipients, and print the SMTP server's answer. It waits at
most smtp.timeout, and goes straight to the server: the daemon's outbox
is not involved.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).SendTest(cmdContext(cmd), args)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
}
