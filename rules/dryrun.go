package rules

import (
	"context"
	"sync"
)

// DryRun is a Firewall that changes nothing. It answers as IPTables would
// on a host whose only sipprot rules are those it "installed" itself, and
// records every change it would have applied, for tests and for trying a
// config without root.
type DryRun struct {
	// Backend is reported in the changes; NFT when empty.
	Backend Backend

	mu        sync.Mutex
	installed *Rules
	applied   []Change
}

// Install implements Firewall.
func (d *DryRun) Install(_ context.Context, r *Rules) ([]Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changes := d.plan(r)
	d.installed = r
	d.applied = append(d.applied, changes...)
	return changes, nil
}

// Remove implements Firewall.
func (d *DryRun) Remove(context.Context) ([]Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.installed == nil {
		return nil, nil
	}
	var changes []Change
	for _, f := range Families {
		changes = append(changes, d.change(f, simulate(d.installed, f).removal(f), true))
	}
	d.installed = nil
	d.applied = append(d.applied, changes...)
	return changes, nil
}

// Show implements Firewall.
func (d *DryRun) Show(_ context.Context, r *Rules) ([]Change, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.plan(r), nil
}

// Installed returns the rules last installed and not removed since, or nil.
func (d *DryRun) Installed() *Rules {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.installed
}

// Applied returns every change Install and Remove would have applied, in
// order.
func (d *DryRun) Applied() []Change {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Change(nil), d.applied...)
}

func (d *DryRun) plan(r *Rules) []Change {
	var out []Change
	for _, f := range Families {
		p := r.plan(f)
		current := &ruleset{}
		if d.installed != nil {
			current = simulate(d.installed, f)
		}
		out = append(out, d.change(f, p.script(current.cleanup(p.chains)), false))
	}
	return out
}

func (d *DryRun) change(f Family, script string, removal bool) Change {
	b := d.Backend
	if b == "" || b == Auto {
		b = NFT
	}
	v := variants[0]
	if b == Legacy {
		v = variants[1]
	}
	return Change{Family: f, Backend: b, Command: append([]string{v.restore[f]}, restoreArgs...), Script: script, Removal: removal}
}

// simulate returns the filter table as iptables-save would show it with
// only r's rules installed, as far as cleanup and removal look at it.
func simulate(r *Rules, f Family) *ruleset {
	p := r.plan(f)
	rs := &ruleset{hasFilter: true, policies: map[string]string{}, rules: map[string][]string{}}
	for _, b := range []string{"INPUT", "FORWARD", "OUTPUT"} {
		rs.chains = append(rs.chains, b)
		rs.policies[b] = "ACCEPT"
	}
	for _, c := range p.chains {
		rs.chains = append(rs.chains, c)
		rs.policies[c] = "-"
	}
	for _, h := range p.hooks {
		rs.rules[h.builtin] = append(rs.rules[h.builtin], "-A "+h.builtin+" -j "+h.chain)
	}
	return rs
}
