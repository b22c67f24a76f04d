package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sipprot/sipprot/rules"
	"github.com/spf13/cobra"
)

func newRulesCmd(opts *options) *cobra.Command {
	var variant string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Install, remove or show sipprot's firewall rules",
		Long: `Install, remove or show sipprot's firewall rules.

The rules come from the config: iptables chains named SIPPROT-*, hooked first
in INPUT/OUTPUT (queue.mode "local") or FORWARD ("forward"), that send the SIP
ports, and TFTP, to the NFQUEUE, with the per-source rate guard and the DNS
guard. Nothing else of the firewall is touched. install replaces an earlier
install; remove deletes exactly what install added, also after a crash.`,
		Args: cobra.NoArgs,
	}
	load := func(cmd *cobra.Command) (*rules.Rules, rules.Firewall, error) {
		b, err := rules.ParseBackend(variant)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := loadConfig(cmd, opts)
		if err != nil {
			return nil, nil, err
		}
		r, err := rules.New(rules.SettingsOf(cfg))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.Source(), err)
		}
		return r, opts.deps.NewFirewall(b), nil
	}
	variantFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&variant, "iptables", "auto", `iptables variant: "nft", "legacy", or "auto" to use the one this host uses`)
	}

	install := &cobra.Command{
		Use:   "install",
		Short: "Install the rules from the config (root); replaces an earlier install",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, fw, err := load(cmd)
			if err != nil {
				return err
			}
			changes, err := fw.Install(cmd.Context(), r)
			if err != nil {
				return fmt.Errorf("install rules: %w", err)
			}
			out := cmd.OutOrStdout()
			for _, c := range changes {
				if c.Removal {
					fmt.Fprintf(out, "%s: removed sipprot's rules from iptables-%s, left by an earlier install\n", c.Family, c.Backend)
				} else {
					fmt.Fprintf(out, "%s: installed with iptables-%s\n", c.Family, c.Backend)
				}
			}
			return nil
		},
	}
	variantFlag(install)

	remove := &cobra.Command{
		Use:   "remove",
		Short: "Delete every rule sipprot added, and nothing else (root)",
		Long: `Delete every chain named SIPPROT-* and every jump to one, in both iptables
variants and both IP families; nothing else. With nothing installed, it does
nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changes, err := opts.deps.NewFirewall(rules.Auto).Remove(cmd.Context())
			out := cmd.OutOrStdout()
			for _, c := range changes {
				fmt.Fprintf(out, "%s: removed from iptables-%s\n", c.Family, c.Backend)
			}
			if err != nil {
				return fmt.Errorf("remove rules: %w", err)
			}
			if len(changes) == 0 {
				fmt.Fprintln(out, "no sipprot rules installed")
			}
			return nil
		},
	}

	var only4, only6 bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the iptables-restore scripts install would apply",
		Long: `Print the iptables-restore (IPv4) and ip6tables-restore (IPv6) scripts that
install would apply now, including the deletion of rules already installed.
Without root, or without iptables, it prints the scripts for a host where
sipprot's rules are not installed.

To apply one by hand:
  sipprot rules show -4 | iptables-restore --noflush
  sipprot rules show -6 | ip6tables-restore --noflush`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if only4 && only6 {
				return errors.New("-4 and -6 exclude each other; give neither for both scripts")
			}
			r, fw, err := load(cmd)
			if err != nil {
				return err
			}
			want := func(f rules.Family) bool {
				return !(only4 && f != rules.IPv4) && !(only6 && f != rules.IPv6)
			}
			out := cmd.OutOrStdout()
			changes, err := fw.Show(cmd.Context(), r)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "sipprot: cannot read the current rules, so these are for a host without sipprot's: %v\n", err)
				v4, v6 := r.Scripts()
				return writeScripts(out, want, map[rules.Family]string{rules.IPv4: v4, rules.IPv6: v6})
			}
			scripts := map[rules.Family]string{}
			for _, c := range changes {
				if !want(c.Family) {
					continue
				}
				if c.Removal {
					// As comments: piped into restore, this script must stay
					// one variant's.
					scripts[c.Family] += fmt.Sprintf("# install also removes what iptables-%s holds of sipprot, with %s:\n%s",
						c.Backend, strings.Join(c.Command, " "), commentOut(c.Script))
					continue
				}
				scripts[c.Family] = c.Script + scripts[c.Family]
			}
			return writeScripts(out, want, scripts)
		},
	}
	show.Flags().BoolVarP(&only4, "ipv4", "4", false, "print only the IPv4 script")
	show.Flags().BoolVarP(&only6, "ipv6", "6", false, "print only the IPv6 script")
	variantFlag(show)

	cmd.AddCommand(install, remove, show)
	return cmd
}

// writeScripts prints the wanted families' scripts, IPv4 first, with a
// blank line between them.
func writeScripts(w io.Writer, want func(rules.Family) bool, scripts map[rules.Family]string) error {
	sep := ""
	for _, f := range rules.Families {
		if !want(f) || scripts[f] == "" {
			continue
		}
		if _, err := io.WriteString(w, sep+scripts[f]); err != nil {
			return fmt.Errorf("write rules: %w", err)
		}
		sep = "\n"
	}
	return nil
}

func commentOut(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("# " + l)
	}
	return b.String() + "\n"
}
