package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/manage"
	"github.com/spf13/cobra"
)

// The allow and deny commands are manage's list operations: they edit
// the files and have the running daemon apply them at once.

func newAllowCmd(opts *options) *cobra.Command {
	return newListCmd(opts, manage.Allow, "Manage the allow list: addresses and networks never blocked by anything")
}

func newDenyCmd(opts *options) *cobra.Command {
	return newListCmd(opts, manage.Deny, "Manage the deny list: addresses and networks always blocked")
}

func newListCmd(opts *options, k manage.Kind, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   string(k),
		Short: short,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newListAddCmd(opts, k), newListRemoveCmd(opts, k), newListListCmd(opts, k),
		newListImportCmd(opts, k), newListExportCmd(opts, k))
	return cmd
}

func newListAddCmd(opts *options, k manage.Kind) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "add IP|CIDR [--note TEXT]",
		Short: fmt.Sprintf("Add an address or network to the %s list, or change its note", k),
		Long: fmt.Sprintf(`Add an address or network to the %s list. If it is already there, its
line keeps its place and takes the new note; an empty note keeps the old
one. Line breaks in a note become spaces.`, k) + map[manage.Kind]string{
			manage.Allow: "\n\nAn address with a dynamic block in force has it lifted when the daemon\napplies the new allow list.",
			manage.Deny:  "\n\nAn address or network that the allow list covers or overlaps is refused:\nthe allow list wins over the deny list.",
		}[k],
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opts.service(cmd).Add(cmdContext(cmd), k, args[0], note)
			if r != nil {
				printResult(cmd, r)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "what the entry is (\"office NAT\", \"trunk provider\")")
	return cmd
}

func newListRemoveCmd(opts *options, k manage.Kind) *cobra.Command {
	var all, yes bool
	cmd := &cobra.Command{
		Use:   "remove IP|CIDR... | --all [--yes]",
		Short: fmt.Sprintf("Remove entries from the %s list, or all of them", k),
		Long: fmt.Sprintf(`Remove entries from the %s list; comments and the other lines stay as
they are. Each address must be on the list as written (a network is
removed as a whole, not carved). If one is not, nothing is removed.

--all removes every entry and keeps the comments. It asks for
confirmation when stdin is a terminal, and needs --yes otherwise.`, k),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			l, err := opts.service(cmd).List(k)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, e := range l.Entries {
				if s := formatNetwork(e.Network); !slices.Contains(args, s) {
					out = append(out, s+"\t"+e.Note)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			svc := opts.service(cmd)
			if _, err := svc.Config(); err != nil {
				return err
			}
			var r *manage.RemoveResult
			var err error
			switch {
			case all && len(args) > 0:
				return errors.New("give addresses or --all, not both")
			case all:
				r, err = svc.RemoveAll(cmdContext(cmd), k, opts.confirmer(cmd, yes))
			default:
				r, err = svc.Remove(cmdContext(cmd), k, args)
			}
			if r != nil {
				printResult(cmd, r)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every entry (comments stay)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// formatNetwork writes a list entry's network as the list file does: a
// host without its /32 or /128.
func formatNetwork(s string) string {
	if p, err := lists.ParsePrefix(s); err == nil {
		return lists.FormatPrefix(p)
	}
	return s
}

func newListListCmd(opts *options, k manage.Kind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: fmt.Sprintf("Print the %s list: network and note", k),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := opts.service(cmd).List(k)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// writeJSON prints v as the --json outputs do: indented, one object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newListImportCmd(opts *options, k manage.Kind) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.csv",
		Short: fmt.Sprintf("Add the rows of a CSV file (address,note) to the %s list", k),
		Long: fmt.Sprintf(`Add the rows of a CSV file to the %s list. Columns: address,note (the
note may be missing); a header row is optional; quoting per RFC 4180.
FILE "-" reads stdin. Rows already on the list update their note (an
empty note keeps the old one); line breaks in a note become spaces; the
"'" that export puts before a note a spreadsheet would run as a formula
is removed. The import is all or nothing: if any row is bad, every bad
row is listed with its line number and the list does not change.`, k),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc := opts.service(cmd)
			if _, err := svc.Config(); err != nil {
				return err
			}
			name := args[0]
			var in io.Reader = cmd.InOrStdin()
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return err // names the file already
				}
				defer f.Close()
				in = f
			} else {
				name = "stdin"
			}
			r, err := svc.Import(cmdContext(cmd), k, in, name)
			if r != nil {
				printResult(cmd, r)
			}
			return err
		},
	}
}

func newListExportCmd(opts *options, k manage.Kind) *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE.csv]",
		Short: fmt.Sprintf("Write the %s list as CSV (address,note), to FILE or stdout", k),
		Long: fmt.Sprintf(`Write the %s list as CSV: a header address,note, then one row per entry.
A note that a spreadsheet would run as a formula (starting with =, +, -,
@) gets a leading "'"; import removes it, so importing an export changes
nothing. Without FILE, the CSV goes to stdout.`, k),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc := opts.service(cmd)
			if len(args) == 0 {
				r, err := svc.Export(k)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(r.CSV)
				return err
			}
			r, err := svc.ExportFile(k, args[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), r.Text())
			return err
		},
	}
}
