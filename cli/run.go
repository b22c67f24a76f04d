package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/daemon"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
	"github.com/sipprot/sipprot/rules"
	"github.com/spf13/cobra"
)

func newRunCmd(opts *options) *cobra.Command {
	var backend string
	cmd := &cobra.Command{
		Use:   "run [--config FILE]",
		Short: "Run the daemon in the foreground: install the rules and judge every queued packet",
		Long: `run loads the config, the lists and the saved blocks, binds the queues,
installs the firewall rules and judges every SIP and TFTP packet until
SIGTERM or SIGINT, which remove the rules and save the state. SIGHUP reloads
the config and lists; a bad config is refused and the running one kept.
After a crash the rules stay: fail-open keeps SIP flowing, and the next start
reuses them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := rules.ParseBackend(backend)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			fw := rules.NewIPTables(b)
			return daemon.Run(ctx, daemon.Options{
				ConfigPath: opts.configPath,
				MustExist:  opts.configGiven(cmd),
				Stderr:     cmd.ErrOrStderr(),
				Reload:     reload,
				Admin:      true,
				Metrics:    true,
				Version:    version,
				Commit:     buildCommit(),
				NewQueues: func(c *conf.Config, e *policy.Engine, log *slog.Logger) (daemon.Queues, error) {
					return queue.New(queue.Config{
						Number:   uint16(c.Queue.Number),
						Count:    uint16(c.Queue.Count),
						FailOpen: c.Queue.FailOpen,
					}, e, log), nil
				},
				NewFirewall: func(c *conf.Config) (daemon.Firewall, error) {
					r, err := rules.New(rules.SettingsOf(c))
					if err != nil {
						return nil, err
					}
					return &installer{fw: fw, rules: r}, nil
				},
			})
		},
	}
	cmd.Flags().StringVar(&backend, "iptables", "auto", `iptables variant for the rules: "auto", "nft" or "legacy"`)
	return cmd
}

// installer binds generated rules to the iptables firewall for the daemon.
type installer struct {
	fw    rules.Firewall
	rules *rules.Rules
}

func (i *installer) Install() error {
	_, err := i.fw.Install(context.Background(), i.rules)
	return err
}

func (i *installer) Remove() error {
	_, err := i.fw.Remove(context.Background())
	return err
}
