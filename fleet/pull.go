package fleet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// changeChunk bounds one ChangeFunc call, so a million-decision startup
// never builds a million-element slice.
const changeChunk = 4096

// puller is the bouncer half; the puller goroutine owns it.
type puller struct {
	c        *Client
	in       interner
	set      *decisionSet
	refusals Refusals
	f        filter
}

func (c *Client) pullLoop(ctx context.Context) {
	p := &puller{c: c}
	p.set = newSet(c.cfg.MaxDecisions, 0, &p.in)
	p.f = filter{origins: c.cfg.Origins, ownOrigin: c.ownOrigin, in: &p.in, refusals: &p.refusals}
	for _, d := range c.seed {
		p.set.add(d.Prefix.Masked(), entry{id: d.ID, until: d.Until.UnixNano(), meta: p.in.intern(meta{d.Origin, d.Scenario, d.Own})})
	}
	c.seed = nil
	t := time.NewTicker(c.cfg.PollEvery)
	defer t.Stop()
	startup := true
	var lastFull time.Time
	for {
		err := p.pull(ctx, startup)
		if err == nil && startup {
			lastFull = time.Now()
		}
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("LAPI pull failed, last good decisions kept", "decisions", len(p.set.m), "err", err)
		}
		// After any failure the delta since the last pull may be lost in
		// flight: the next pull takes the whole set again.
		if err == nil && startup {
			select { // a failed pull before: the LAPI is back
			case c.lapiBack <- struct{}{}:
			default:
			}
		}
		startup = err != nil || time.Since(lastFull) >= c.cfg.ResyncEvery
		p.publish(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *puller) publish(err error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	record(&c.status.PullConnected, &c.status.LastPull, &c.status.LastPullErr, err)
	c.status.InForce = p.set.inForce()
	q, o := c.status.Refusals.QueueFull, c.status.Refusals.OutboxFull
	c.status.Refusals = p.refusals
	c.status.Refusals.QueueFull, c.status.Refusals.OutboxFull = q, o
}

func (p *puller) pull(ctx context.Context, startup bool) error {
	c := p.c
	// dedup=false: by default the LAPI sends only the longest decision per
	// address, and when that is this host's own (not enforced as a fleet
	// block) another origin's shorter ban would never arrive.
	path := "/v1/decisions/stream?dedup=false"
	timeout := c.cfg.Timeout
	if startup {
		path += "&startup=true"
		timeout = c.cfg.StartupTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, path, nil, map[string]string{"X-Api-Key": string(c.cfg.APIKey)})
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("pull %s: HTTP %d %s", path, resp.StatusCode, short(b))
	}
	if startup {
		err = p.applyStartup(resp.Body, time.Now())
	} else {
		err = p.applyDelta(resp.Body, time.Now())
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", path, err)
	}
	return nil
}

// applyStartup replaces the set with the whole answer, then tells the
// caller the difference. On a malformed answer the old set stays.
func (p *puller) applyStartup(r io.Reader, now time.Time) error {
	next := newSet(p.c.cfg.MaxDecisions, len(p.set.m), &p.in)
	err := decodeStream(r, func(deleted bool, w *wireDecision) {
		if deleted {
			return // expired decisions: the new set simply lacks them
		}
		if pf, e, ok := p.f.accept(w, now); ok && !next.add(pf, e) {
			p.refusals.Full++
		}
	})
	if err != nil {
		return err
	}
	old := p.set
	p.set = next
	em := p.emitter()
	for pf, sl := range next.m {
		osl, had := old.m[pf]
		if !had || !sameEntry(osl.best(&p.in), sl.best(&p.in)) {
			d, _ := next.decision(pf)
			em.add(d)
		}
	}
	for pf := range old.m {
		if _, ok := next.m[pf]; !ok {
			em.del(pf)
		}
	}
	em.flush()
	return nil
}

// sameEntry ignores the small drift of until: the LAPI sends durations,
// so each pull computes a slightly different end for the same decision.
func sameEntry(a, b entry) bool {
	d := a.until - b.until
	return a.id == b.id && a.meta == b.meta && d < int64(2*time.Second) && d > -int64(2*time.Second)
}

type change struct {
	deleted bool
	p       netip.Prefix
	e       entry
}

// applyDelta applies new and deleted decisions once the whole answer has
// parsed, so a malformed one changes nothing.
func (p *puller) applyDelta(r io.Reader, now time.Time) error {
	var changes []change
	err := decodeStream(r, func(deleted bool, w *wireDecision) {
		if deleted {
			if pf, ok, _ := prefixOf(w); ok {
				changes = append(changes, change{deleted: true, p: pf, e: entry{id: w.ID}})
			}
			return
		}
		if pf, e, ok := p.f.accept(w, now); ok {
			changes = append(changes, change{p: pf, e: e})
		}
	})
	if err != nil {
		return err
	}
	before := make(map[netip.Prefix]Decision, len(changes))
	had := make(map[netip.Prefix]bool, len(changes))
	for _, ch := range changes {
		if _, seen := had[ch.p]; !seen {
			d, ok := p.set.decision(ch.p)
			before[ch.p], had[ch.p] = d, ok
		}
		if ch.deleted {
			p.set.remove(ch.p, ch.e.id)
		} else if !p.set.add(ch.p, ch.e) {
			p.refusals.Full++
		}
	}
	em := p.emitter()
	for pf, wasThere := range had {
		d, ok := p.set.decision(pf)
		switch {
		case ok && (!wasThere || d != before[pf]):
			em.add(d)
		case !ok && wasThere:
			em.del(pf)
		}
	}
	em.flush()
	return nil
}

// emitter batches changes into ChangeFunc calls of changeChunk at most.
type emitter struct {
	fn   ChangeFunc
	adds []Decision
	dels []netip.Prefix
}

func (p *puller) emitter() *emitter { return &emitter{fn: p.c.onChange} }

func (em *emitter) add(d Decision) {
	em.adds = append(em.adds, d)
	if len(em.adds) >= changeChunk {
		em.fn(em.adds, nil)
		em.adds = nil
	}
}

func (em *emitter) del(p netip.Prefix) {
	em.dels = append(em.dels, p)
	if len(em.dels) >= changeChunk {
		em.fn(nil, em.dels)
		em.dels = nil
	}
}

func (em *emitter) flush() {
	if len(em.adds) > 0 || len(em.dels) > 0 {
		em.fn(em.adds, em.dels)
	}
}
