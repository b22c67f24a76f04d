package manage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// Blocks are the dynamic blocks in force.
type Blocks struct {
	Blocks []policy.BlockState
	// Live: from the running daemon; else from the state file.
	Live bool
	// Warning says why a running daemon's list could not be had.
	Warning string
}

// Blocks returns the dynamic blocks in force: the daemon's if it answers
// (live), else those of the state file.
func (s *Service) Blocks(ctx context.Context) (*Blocks, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	return s.blocks(ctx, c)
}

func (s *Service) blocks(ctx context.Context, c *conf.Config) (*Blocks, error) {
	r := &Blocks{}
	js, err := s.daemon(c).Blocks(ctx)
	switch {
	case err == nil:
		for _, j := range js {
			b, err := savedblocks.FromJSON(j)
			if err != nil {
				return nil, fmt.Errorf("daemon's block list: %w", err)
			}
			r.Blocks = append(r.Blocks, b)
		}
		r.Live = true
		return r, nil
	case !errors.Is(err, control.ErrNoDaemon):
		r.Warning = fmt.Sprintf("warning: %v; reading the state file instead", err)
	}
	saved, err := savedblocks.Load(c.State.Dir)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	for _, b := range saved {
		if policy.InForce(b, now) {
			r.Blocks = append(r.Blocks, b)
		}
	}
	return r, nil
}

// UnblockResult is what Unblock did.
type UnblockResult struct {
	Socket string
	// Live: the running daemon lifted them, their packets pass now.
	Live    bool
	Results []control.UnblockResult
}

// Text is what the CLI prints on stdout.
func (r *UnblockResult) Text() string {
	var b strings.Builder
	if !r.Live {
		b.WriteString(NotRunning(r.Socket, "changing the saved state") + "\n")
	}
	for _, u := range r.Results {
		if !u.Lifted {
			fmt.Fprintf(&b, "%s has no dynamic block\n", u.IP)
			continue
		}
		bl := u.Block
		kind := "temporary"
		if bl.Permanent {
			kind = "permanent"
		}
		fmt.Fprintf(&b, "lifted the %s block of %s (%s, blocked %d time(s), user-agent %q, country %q)",
			kind, u.IP, bl.Reason, bl.Count, bl.UserAgent, bl.Country)
		if r.Live {
			b.WriteString("; its packets pass now")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Unblock lifts the dynamic blocks of ips, temporary or permanent, and
// forgets their past blocks. Every address is checked first: if one is
// not an IP address, nothing is lifted. With no daemon the saved state
// is changed, as the daemon would change it.
func (s *Service) Unblock(ctx context.Context, ips []string) (*UnblockResult, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	var bad []error
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			bad = append(bad, fmt.Errorf("%q is not an IP address", ip))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("nothing unblocked: %w", errors.Join(bad...))
	}
	r := &UnblockResult{Socket: c.Admin.Socket}
	r.Results, err = s.daemon(c).Unblock(ctx, ips)
	r.Live = err == nil
	if errors.Is(err, control.ErrNoDaemon) {
		r.Results, err = s.unblockSaved(c, ips)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// unblockSaved lifts blocks in the saved state while no daemon runs: the
// block and its count are forgotten.
func (s *Service) unblockSaved(c *conf.Config, ips []string) ([]control.UnblockResult, error) {
	saved, err := savedblocks.Load(c.State.Dir)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	var res []control.UnblockResult
	changed := false
	for _, ip := range ips {
		a := netip.MustParseAddr(ip).Unmap()
		r := control.UnblockResult{IP: a.String()}
		kept := saved[:0]
		for _, b := range saved {
			if b.Addr.Unmap() != a {
				kept = append(kept, b)
				continue
			}
			changed = true
			if policy.InForce(b, now) {
				j := savedblocks.ToJSON(b)
				r.Lifted, r.Block = true, &j
			}
		}
		saved = kept
		res = append(res, r)
	}
	if changed {
		if err := savedblocks.Save(c.State.Dir, saved, now); err != nil {
			return nil, err
		}
	}
	return res, nil
}
