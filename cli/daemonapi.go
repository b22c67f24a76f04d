package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/store"
	"github.com/spf13/cobra"
)

// The CLI asks the running daemon first, through its control socket, so
// that what it prints is live and what it changes is in force at once.
// With no daemon it works on the files directly and says so.

func daemonClient(c *conf.Config) *control.Client { return control.NewClient(c.Admin.Socket) }

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// notRunning says that the command works on the files.
func notRunning(w io.Writer, c *conf.Config, what string) {
	fmt.Fprintf(w, "sipprot is not running (no daemon on %s): %s\n", c.Admin.Socket, what)
}

// currentBlocks returns the dynamic blocks in force: the daemon's if it
// answers (live), else those of the state file.
func currentBlocks(cmd *cobra.Command, c *conf.Config) (blocks []policy.BlockState, live bool, err error) {
	var js []store.BlockJSON
	err = daemonClient(c).Get(cmdContext(cmd), control.PathBlocks, nil, &js)
	switch {
	case err == nil:
		for _, j := range js {
			b, err := store.FromJSON(j)
			if err != nil {
				return nil, false, fmt.Errorf("daemon's block list: %w", err)
			}
			blocks = append(blocks, b)
		}
		return blocks, true, nil
	case !errors.Is(err, control.ErrNoDaemon):
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v; reading the state file instead\n", err)
	}
	saved, err := store.LoadBlocks(c.State.Dir)
	if err != nil {
		return nil, false, err
	}
	now := time.Now()
	for _, b := range saved {
		if store.InForce(b, now) {
			blocks = append(blocks, b)
		}
	}
	return blocks, false, nil
}

// listsChanged tells the running daemon that a list file changed, so the
// change is in force before the command returns, and reports what it did;
// with no daemon, the file is the change and the daemon applies it when it
// starts. Newly allowed networks lift dynamic blocks (in the daemon, or
// at its next start).
func listsChanged(cmd *cobra.Command, c *conf.Config, allowed []store.Entry) error {
	out := cmd.OutOrStdout()
	var res control.ListsReply
	err := daemonClient(c).Post(cmdContext(cmd), control.PathListsReload, nil, &res)
	switch {
	case err == nil:
		fmt.Fprintf(out, "in force in the running daemon (allow %d, deny %d entries)\n", res.Allow, res.Deny)
		for _, a := range res.Lifted {
			fmt.Fprintf(out, "lifted the dynamic block of %s\n", a)
		}
		return nil
	case errors.Is(err, control.ErrNoDaemon):
		notRunning(out, c, "the file is changed and applies when it starts")
	default:
		// The file is written; the daemon's watcher still applies it.
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the daemon did not confirm: %v; its file watcher applies the change within a second\n", err)
	}
	if len(allowed) == 0 {
		return nil
	}
	blocks, err := store.LoadBlocks(c.State.Dir)
	if err != nil {
		return err
	}
	for _, a := range store.BlocksToLift(blocks, store.PrefixSet(allowed), time.Now()) {
		fmt.Fprintf(out, "%s has a dynamic block in force: lifted when the daemon applies the allow list\n", a.Unmap())
	}
	return nil
}
