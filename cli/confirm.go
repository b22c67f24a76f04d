package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sipprot/sipprot/manage"
	"github.com/spf13/cobra"
)

// confirmer asks a removal's question on stderr and reads y/yes from
// stdin: with --yes it does not ask (nil), and when stdin is not a
// terminal it refuses with a hint to add --yes.
func (o *options) confirmer(cmd *cobra.Command, yes bool) manage.Confirm {
	if yes {
		return nil
	}
	return func(question, what string) (bool, error) {
		if !o.deps.StdinIsTerminal(cmd.InOrStdin()) {
			return false, fmt.Errorf("%s: add --yes to confirm (stdin is not a terminal)", what)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		a := strings.ToLower(strings.TrimSpace(answer))
		return a == "y" || a == "yes", nil
	}
}

// stdinIsTerminal is whether a removal may ask. A terminal is a
// character device; /dev/null is one too, and a script that redirects
// from it must not be asked.
func stdinIsTerminal(r io.Reader) bool {
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

// printed is a result of package manage: Text for stdout, Warnings for
// stderr.
type printed interface {
	Text() string
	Warnings() []string
}

// printResult writes a result: its text, then its warnings.
func printResult(cmd *cobra.Command, r printed) {
	io.WriteString(cmd.OutOrStdout(), r.Text())
	notes(cmd, r.Warnings())
}

// notes writes lines on stderr.
func notes(cmd *cobra.Command, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(cmd.ErrOrStderr(), l)
	}
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
