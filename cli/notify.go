package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/notify"
	"github.com/spf13/cobra"
)

// The notify commands edit notify.recipients in the config file in place
// (conf.Update: one locked read-modify-write, comments kept). Recipients
// are stored as bare addresses: "Night Shift <night@example.com>" is
// accepted and stored as night@example.com, so the list reads the same
// in the config, in `notify list` and in the SMTP envelope.

// applyConfigChange tells the running daemon to reload the edited config
// and returns what to tell the user.
var applyConfigChange = func(cmd *cobra.Command, c *conf.Config) string {
	err := daemonClient(c).Post(cmdContext(cmd), control.PathConfigReload, nil, nil)
	switch {
	case err == nil:
		return "in force in the running daemon"
	case errors.Is(err, control.ErrNoDaemon):
		return fmt.Sprintf("sipprot is not running (no daemon on %s): the config file is changed and applies when it starts", c.Admin.Socket)
	}
	return fmt.Sprintf("warning: the daemon did not apply it: %v", err)
}

func newNotifyCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Manage who gets email notifications, and send a test email",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyAddCmd(opts), newNotifyRemoveCmd(opts), newNotifyListCmd(opts), newNotifyTestCmd(opts))
	return cmd
}

// parseRecipient validates an address with net/mail and returns it bare.
func parseRecipient(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "mail: ")
		return "", fmt.Errorf("%q is not an email address: %s", s, reason)
	}
	return a.Address, nil
}

// indexRecipient finds addr in the list by bare address, ignoring case
// (the domain's case never matters, and no mail system in use tells
// Ops@ from ops@).
func indexRecipient(list []string, addr string) int {
	return slices.IndexFunc(list, func(r string) bool { return strings.EqualFold(bare(r), addr) })
}

// bare returns the address of a recipient written "Name <addr>".
func bare(r string) string {
	if a, err := mail.ParseAddress(r); err == nil {
		return a.Address
	}
	return r
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
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			addr, err := parseRecipient(args[0])
			if err != nil {
				return fmt.Errorf("refused: %w", err)
			}
			var now []string
			already := false
			err = conf.Update(opts.configPath, func(cur *conf.Config) ([]conf.Edit, error) {
				now = cur.Notify.Recipients
				if indexRecipient(now, addr) >= 0 {
					already = true
					return nil, nil
				}
				now = append(slices.Clone(now), addr)
				return []conf.Edit{{Section: "notify", Key: "recipients", Value: now}}, nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if already {
				fmt.Fprintf(out, "%s is already a recipient in %s\n", addr, opts.configPath)
				return nil
			}
			fmt.Fprintf(out, "added %s to the recipients in %s (%s now)\n", addr, opts.configPath, plural(len(now), "recipient", "recipients"))
			fmt.Fprintln(out, applyConfigChange(cmd, c))
			return nil
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
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			var addrs []string
			var bad []error
			for _, a := range args {
				addr, err := parseRecipient(a)
				if err != nil {
					bad = append(bad, err)
				}
				addrs = append(addrs, addr)
			}
			if len(bad) > 0 {
				return fmt.Errorf("nothing removed: %w", errors.Join(bad...))
			}
			if err := checkRecipients(c, addrs, opts.configPath); err != nil {
				return err
			}
			ok, err := confirm(cmd, yes, fmt.Sprintf("Remove %s from the recipients in %s?", strings.Join(addrs, ", "), opts.configPath),
				"remove "+plural(len(addrs), "recipient", "recipients"))
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("nothing removed")
			}
			var left, removed []string
			err = conf.Update(opts.configPath, func(cur *conf.Config) ([]conf.Edit, error) {
				if err := checkRecipients(cur, addrs, opts.configPath); err != nil {
					return nil, err // changed since the question
				}
				left, removed = nil, nil
				for _, r := range cur.Notify.Recipients {
					if indexRecipient(addrs, bare(r)) >= 0 {
						removed = append(removed, bare(r))
					} else {
						left = append(left, r)
					}
				}
				return []conf.Edit{{Section: "notify", Key: "recipients", Value: left}}, nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "removed %s from the recipients in %s (%s left)\n", strings.Join(removed, ", "), opts.configPath,
				plural(len(left), "recipient", "recipients"))
			fmt.Fprintln(out, applyConfigChange(cmd, c))
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// checkRecipients fails, naming them, if some addresses are not recipients.
func checkRecipients(c *conf.Config, addrs []string, path string) error {
	var absent []string
	for _, a := range addrs {
		if indexRecipient(c.Notify.Recipients, a) < 0 {
			absent = append(absent, a)
		}
	}
	if len(absent) > 0 {
		return fmt.Errorf("nothing removed: not a recipient in %s: %s", path, strings.Join(absent, ", "))
	}
	return nil
}

func newNotifyListCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "Print the notification recipients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				doc := struct {
					Config     string   `json:"config"`
					Recipients []string `json:"recipients"`
				}{c.Source(), append([]string{}, c.Notify.Recipients...)}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // "Name <addr>" as written
				return enc.Encode(doc)
			}
			if len(c.Notify.Recipients) == 0 {
				fmt.Fprintln(out, "no recipients: add one with sipprot notify add ADDR")
				return nil
			}
			for _, r := range c.Notify.Recipients {
				fmt.Fprintln(out, r)
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
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			var to []string
			for _, a := range args {
				addr, err := parseRecipient(a)
				if err != nil {
					return err
				}
				to = append(to, addr)
			}
			if len(to) == 0 {
				for _, r := range c.Notify.Recipients {
					to = append(to, bare(r))
				}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			reply, err := notify.SendTest(ctx, notify.SettingsOf(c), to)
			switch {
			case errors.Is(err, notify.ErrNoSMTPHost):
				return fmt.Errorf("%w; set [smtp] host in %s", err, c.Source())
			case errors.Is(err, notify.ErrNoRecipients):
				return fmt.Errorf("%w, or give an address: sipprot notify test ADDR", err)
			case err != nil:
				return fmt.Errorf("test email not sent: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent a test email to %s through %s (tls = %q)\nserver answered: %s\n",
				strings.Join(to, ", "), c.SMTP.Addr(), c.SMTP.TLS, reply)
			return nil
		},
	}
}
