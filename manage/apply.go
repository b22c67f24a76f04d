package manage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// ListsApplied is what the running daemon did with a list change.
type ListsApplied struct {
	Socket string
	// Reply is the daemon's answer; nil when it did not confirm.
	Reply *control.ListsReply
	// NoDaemon: none runs; the file is the change.
	NoDaemon bool
	// Err is why a running daemon did not confirm; its file watcher
	// still applies the file.
	Err error
	// Pending are newly allowed addresses whose dynamic blocks the
	// daemon lifts when it applies the allow list (no confirmation).
	Pending []netip.Addr
}

// Text is what the CLI prints on stdout.
func (a *ListsApplied) Text() string {
	var b strings.Builder
	switch {
	case a.Reply != nil:
		fmt.Fprintf(&b, "in force in the running daemon (allow %d, deny %d entries)\n", a.Reply.Allow, a.Reply.Deny)
		for _, l := range a.Reply.Lifted {
			fmt.Fprintf(&b, "lifted the dynamic block of %s\n", l)
		}
	case a.NoDaemon:
		b.WriteString(NotRunning(a.Socket, "the file is changed and applies when it starts") + "\n")
	}
	for _, p := range a.Pending {
		fmt.Fprintf(&b, "%s has a dynamic block in force: lifted when the daemon applies the allow list\n", p)
	}
	return b.String()
}

// Warnings are what the CLI prints on stderr.
func (a *ListsApplied) Warnings() []string {
	if a.Err == nil {
		return nil
	}
	return []string{fmt.Sprintf("warning: the daemon did not confirm: %v; its file watcher applies the change within a second", a.Err)}
}

// applyLists tells the running daemon that a list file changed, so the
// change is in force before the call returns. Newly allowed networks
// lift dynamic blocks: in the daemon, or at its next start.
func (s *Service) applyLists(ctx context.Context, c *conf.Config, allowed []netip.Prefix) (*ListsApplied, error) {
	a := &ListsApplied{Socket: c.Admin.Socket}
	res, err := s.daemon(c).ReloadLists(ctx)
	switch {
	case err == nil:
		a.Reply = &res
		return a, nil
	case errors.Is(err, control.ErrNoDaemon):
		a.NoDaemon = true
	default:
		a.Err = err
	}
	if len(allowed) == 0 {
		return a, nil
	}
	blocks, err := savedblocks.Load(c.State.Dir)
	if err != nil {
		return a, err
	}
	es := make([]lists.Entry, len(allowed))
	for i, p := range allowed {
		es[i] = lists.Entry{Prefix: p}
	}
	for _, addr := range policy.BlocksToLift(blocks, lists.PrefixSet(es), s.opts.Now()) {
		a.Pending = append(a.Pending, addr.Unmap())
	}
	return a, nil
}

// ConfigApplied is what the running daemon did with a config edit.
type ConfigApplied struct {
	Socket string
	// Live: the daemon reloaded the config and it is in force.
	Live bool
	// NoDaemon: none runs; the file applies when it starts.
	NoDaemon bool
	// Err is why the daemon refused the edited config.
	Err error
}

// Text is the line that says so.
func (a *ConfigApplied) Text() string {
	switch {
	case a.Live:
		return "in force in the running daemon\n"
	case a.NoDaemon:
		return NotRunning(a.Socket, "the config file is changed and applies when it starts") + "\n"
	}
	return fmt.Sprintf("warning: the daemon did not apply it: %v\n", a.Err)
}

// applyConfig tells the running daemon to reload the edited config.
func (s *Service) applyConfig(ctx context.Context, c *conf.Config) *ConfigApplied {
	a := &ConfigApplied{Socket: c.Admin.Socket}
	a.Live, a.NoDaemon, a.Err = outcome(s.daemon(c).ReloadConfig(ctx))
	return a
}

// outcome sorts the error of a change put to the daemon: in force (live),
// no daemon runs (the file is the change), or why a running one did not.
func outcome(err error) (live, noDaemon bool, why error) {
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, control.ErrNoDaemon):
		return false, true, nil
	}
	return false, false, err
}
