package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// confirm asks question on stderr and reads y/yes from stdin, for commands
// that remove things: with --yes it does not ask, and when stdin is not a
// terminal it refuses with a hint to add --yes (the style of
// `allow remove --all`). It returns whether to go on; err explains a
// refusal off a terminal.
func confirm(cmd *cobra.Command, yes bool, question, what string) (bool, error) {
	if yes {
		return true, nil
	}
	if !stdinIsTerminal(cmd.InOrStdin()) {
		return false, fmt.Errorf("%s: add --yes to confirm (stdin is not a terminal)", what)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes", nil
}
