package cli

import (
	"fmt"

	"github.com/sipprot/sipprot/admin"
	"github.com/spf13/cobra"
)

func newAdminCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "The management web page",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "token",
		Short: "Print the web page's login secret",
		Long: `Print the secret that logs in to the management web page ([admin] listen).
It lives in state.dir/admin.token, readable by root only; the daemon makes
it at its first start, or this command does if it runs first. To change
it, delete the file and run this command again (sessions in a running
daemon stay valid until it restarts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			path := admin.TokenPath(c)
			tok, created, err := admin.EnsureToken(path)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(cmd.ErrOrStderr(), "created %s\n", path)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	})
	return cmd
}
