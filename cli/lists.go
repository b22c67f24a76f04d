package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/store"
	"github.com/spf13/cobra"
)

// The allow and deny commands work on the list files: every edit is a
// locked read-modify-write with an atomic rename (store.EditList). Then
// the running daemon is told to apply the files at once (listsChanged);
// its file watcher would within a second anyway, which covers hand edits.
// The daemon lifts the dynamic blocks of newly allowed addresses as it
// applies the allow list.

// listKind is one of the two lists.
type listKind string

const (
	allowKind listKind = "allow"
	denyKind  listKind = "deny"
)

func (k listKind) path(c *conf.Config) string {
	if k == allowKind {
		return c.Lists.Allow
	}
	return c.Lists.Deny
}

// where names the list and its file in messages.
func (k listKind) where(c *conf.Config) string {
	return fmt.Sprintf("the %s list (%s)", k, k.path(c))
}

func newAllowCmd(opts *options) *cobra.Command {
	return newListCmd(opts, allowKind, "Manage the allow list: addresses and networks never blocked by anything")
}

func newDenyCmd(opts *options) *cobra.Command {
	return newListCmd(opts, denyKind, "Manage the deny list: addresses and networks always blocked")
}

func newListCmd(opts *options, k listKind, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   string(k),
		Short: short,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newListAddCmd(opts, k), newListRemoveCmd(opts, k), newListListCmd(opts, k),
		newListImportCmd(opts, k), newListExportCmd(opts, k))
	return cmd
}

func newListAddCmd(opts *options, k listKind) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "add IP|CIDR [--note TEXT]",
		Short: fmt.Sprintf("Add an address or network to the %s list, or change its note", k),
		Long: fmt.Sprintf(`Add an address or network to the %s list. If it is already there, its
line keeps its place and takes the new note; an empty note keeps the old
one. Line breaks in a note become spaces.`, k) + map[listKind]string{
			allowKind: "\n\nAn address with a dynamic block in force has it lifted when the daemon\napplies the new allow list.",
			denyKind:  "\n\nAn address or network that the allow list covers or overlaps is refused:\nthe allow list wins over the deny list.",
		}[k],
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			p, err := store.ParsePrefix(args[0])
			if err != nil {
				return err
			}
			clean, err := store.CleanNote(note)
			if err != nil {
				return fmt.Errorf("--note: %w", err)
			}
			e := store.Entry{Prefix: p, Note: clean}
			if k == denyKind {
				allow, unlock, err := lockAllow(c)
				if err != nil {
					return err
				}
				defer unlock()
				if ms := allow.Overlaps(p); len(ms) > 0 {
					them := "that entry"
					if len(ms) > 1 {
						them = "those entries"
					}
					return fmt.Errorf("refused: %w; to deny it, remove %s from the allow list first", allowConflict(p, ms), them)
				}
			}
			var res store.AddResult
			if err := store.EditList(k.path(c), func(d *store.ListDoc) error { res = d.Add(e); return nil }); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch res {
			case store.Added:
				fmt.Fprintf(out, "added %s to %s\n", store.FormatPrefix(p), k.where(c))
			case store.Updated:
				fmt.Fprintf(out, "updated the note of %s on %s\n", store.FormatPrefix(p), k.where(c))
			default:
				fmt.Fprintf(out, "%s is already on %s\n", store.FormatPrefix(p), k.where(c))
			}
			if res == store.Unchanged {
				return nil
			}
			if k == allowKind && res == store.Added {
				alsoDenied(out, c, []netip.Prefix{p})
				return listsChanged(cmd, c, entriesOf([]netip.Prefix{p}))
			}
			return listsChanged(cmd, c, nil)
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "what the entry is (\"office NAT\", \"trunk provider\")")
	return cmd
}

func newListRemoveCmd(opts *options, k listKind) *cobra.Command {
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
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			entries, _ := store.LoadList(k.path(c))
			var out []string
			for _, e := range entries {
				if s := store.FormatPrefix(e.Prefix); !slices.Contains(args, s) {
					out = append(out, s+"\t"+e.Note)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			if all {
				if len(args) > 0 {
					return errors.New("give addresses or --all, not both")
				}
				return removeAll(cmd, c, k, yes)
			}
			if len(args) == 0 {
				return errors.New("give the addresses to remove, or --all")
			}
			var ps []netip.Prefix
			var bad []error
			for _, a := range args {
				p, err := store.ParsePrefix(a)
				if err != nil {
					bad = append(bad, err)
				}
				ps = append(ps, p)
			}
			if len(bad) > 0 {
				return fmt.Errorf("nothing removed: %w", errors.Join(bad...))
			}
			err = store.EditList(k.path(c), func(d *store.ListDoc) error {
				var absent []string
				for _, p := range ps {
					if _, ok := d.Find(p); ok {
						continue
					}
					s := store.FormatPrefix(p) + " is not on it"
					if ms := d.Overlaps(p); len(ms) > 0 {
						s += "; it " + relation(p, ms) + " " + describeMatches(ms)
					}
					absent = append(absent, s)
				}
				if len(absent) > 0 {
					return fmt.Errorf("nothing removed from %s:\n%s", k.where(c), strings.Join(absent, "\n"))
				}
				for _, p := range ps {
					d.Remove(p)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(ps) == 1 {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s\n", store.FormatPrefix(ps[0]), k.where(c))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s\n", plural(len(ps), "entry", "entries"), k.where(c))
			}
			return listsChanged(cmd, c, nil)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every entry (comments stay)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// stdinIsTerminal decides whether remove --all may ask; tests replace it.
// A terminal is a character device; /dev/null is one too, and a script
// that redirects from it must not be asked.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

func removeAll(cmd *cobra.Command, c *conf.Config, k listKind, yes bool) error {
	if !yes {
		if !stdinIsTerminal(cmd.InOrStdin()) {
			return fmt.Errorf("remove --all empties %s: add --yes to confirm (stdin is not a terminal)", k.where(c))
		}
		d, err := store.ReadListDoc(k.path(c))
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Remove all %s from %s? Comments stay. [y/N] ", plural(d.Len(), "entry", "entries"), k.where(c))
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return fmt.Errorf("nothing removed from %s", k.where(c))
		}
	}
	var n int
	if err := store.EditList(k.path(c), func(d *store.ListDoc) error { n = d.RemoveAll(); return nil }); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "emptied %s: %s removed, comments kept\n", k.where(c), plural(n, "entry", "entries"))
	return listsChanged(cmd, c, nil)
}

// entryJSON is a list entry in --json outputs.
type entryJSON struct {
	Network string `json:"network"`
	Note    string `json:"note"`
}

func newListListCmd(opts *options, k listKind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: fmt.Sprintf("Print the %s list: network and note", k),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			entries, err := store.LoadList(k.path(c))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				doc := struct {
					List    listKind    `json:"list"`
					File    string      `json:"file"`
					Entries []entryJSON `json:"entries"`
				}{k, k.path(c), []entryJSON{}}
				for _, e := range entries {
					doc.Entries = append(doc.Entries, entryJSON{e.Prefix.String(), e.Note})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			if len(entries) == 0 {
				fmt.Fprintf(out, "%s is empty\n", k.where(c))
				return nil
			}
			w := len("NETWORK")
			for _, e := range entries {
				w = max(w, len(store.FormatPrefix(e.Prefix)))
			}
			fmt.Fprintf(out, "%-*s  %s\n", w, "NETWORK", "NOTE")
			for _, e := range entries {
				fmt.Fprintln(out, strings.TrimRight(fmt.Sprintf("%-*s  %s", w, store.FormatPrefix(e.Prefix), e.Note), " "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newListImportCmd(opts *options, k listKind) *cobra.Command {
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
			c, err := loadConfig(cmd, opts)
			if err != nil {
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
			var check func(store.Entry) error
			if k == denyKind {
				allow, unlock, err := lockAllow(c)
				if err != nil {
					return err
				}
				defer unlock()
				check = func(e store.Entry) error {
					if ms := allow.Overlaps(e.Prefix); len(ms) > 0 {
						return allowConflict(e.Prefix, ms)
					}
					return nil
				}
			}
			entries, err := store.ReadCSV(bufio.NewReaderSize(in, 1<<16), name, check)
			if err != nil {
				return err
			}
			var counts [3]int // by store.AddResult
			var total int
			var added []netip.Prefix
			err = store.EditList(k.path(c), func(d *store.ListDoc) error {
				for _, e := range entries {
					r := d.Add(e)
					counts[r]++
					if r == store.Added {
						added = append(added, e.Prefix)
					}
				}
				total = d.Len()
				return nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "imported %s from %s into %s: %d added, %d with a new note, %d unchanged; %s now\n",
				plural(len(entries), "row", "rows"), name, k.where(c), counts[store.Added], counts[store.Updated],
				counts[store.Unchanged], plural(total, "entry", "entries"))
			if counts[store.Added]+counts[store.Updated] == 0 {
				return nil
			}
			if k == allowKind {
				return listsChanged(cmd, c, entriesOf(added))
			}
			return listsChanged(cmd, c, nil)
		},
	}
}

func newListExportCmd(opts *options, k listKind) *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE.csv]",
		Short: fmt.Sprintf("Write the %s list as CSV (address,note), to FILE or stdout", k),
		Long: fmt.Sprintf(`Write the %s list as CSV: a header address,note, then one row per entry.
A note that a spreadsheet would run as a formula (starting with =, +, -,
@) gets a leading "'"; import removes it, so importing an export changes
nothing. Without FILE, the CSV goes to stdout.`, k),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(cmd, opts)
			if err != nil {
				return err
			}
			entries, err := store.LoadList(k.path(c))
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return store.WriteCSV(cmd.OutOrStdout(), entries)
			}
			var b bytes.Buffer
			if err := store.WriteCSV(&b, entries); err != nil {
				return err
			}
			if err := store.WriteFileAtomic(args[0], b.Bytes(), 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s from %s to %s\n", plural(len(entries), "entry", "entries"), k.where(c), args[0])
			return nil
		},
	}
}

// lockAllow reads the allow list under a shared lock, held until unlock,
// so that a deny edit checked against it cannot race an allow edit.
func lockAllow(c *conf.Config) (*store.ListDoc, func(), error) {
	if store.SameFile(c.Lists.Allow, c.Lists.Deny) {
		return nil, nil, fmt.Errorf("%w: %s", store.ErrSameFile, c.Lists.Allow)
	}
	unlock, err := store.LockList(c.Lists.Allow, false)
	if err != nil {
		return nil, nil, err
	}
	d, err := store.ReadListDoc(c.Lists.Allow)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return d, unlock, nil
}

// allowConflict explains why p cannot go on the deny list: the allow
// list wins, so the deny entry would not apply where they meet.
func allowConflict(p netip.Prefix, ms []store.Match) error {
	entry := "entry"
	if len(ms) > 1 {
		entry = "entries"
	}
	return fmt.Errorf("%s %s the allow list %s %s, and the allow list wins over the deny list",
		store.FormatPrefix(p), relation(p, ms), entry, describeMatches(ms))
}

// relation is how p sits against the entries that overlap it: inside
// them all, or overlapping some that are narrower.
func relation(p netip.Prefix, ms []store.Match) string {
	for _, m := range ms {
		if m.Prefix.Bits() > p.Bits() {
			return "overlaps"
		}
	}
	return "is inside"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// describeMatches writes entries as `192.0.2.0/24 "office" (FILE:LINE)`.
func describeMatches(ms []store.Match) string {
	var parts []string
	for _, m := range ms {
		s := store.FormatPrefix(m.Prefix)
		if m.Note != "" {
			s += fmt.Sprintf(" %q", m.Note)
		}
		parts = append(parts, fmt.Sprintf("%s (%s:%d)", s, m.File, m.Line))
	}
	return strings.Join(parts, ", ")
}

// alsoDenied notes deny entries that newly allowed networks overlap: not
// an error (allow wins), but the operator should know both lists hold it.
func alsoDenied(w io.Writer, c *conf.Config, ps []netip.Prefix) {
	deny, err := store.ReadListDoc(c.Lists.Deny)
	if err != nil {
		return // the deny list's own commands report its errors
	}
	for _, p := range ps {
		if ms := deny.Overlaps(p); len(ms) > 0 {
			fmt.Fprintf(w, "note: %s overlaps the deny list: %s; the allow list wins\n", store.FormatPrefix(p), describeMatches(ms))
		}
	}
}

func entriesOf(ps []netip.Prefix) []store.Entry {
	out := make([]store.Entry, len(ps))
	for i, p := range ps {
		out[i] = store.Entry{Prefix: p}
	}
	return out
}
