package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/fleet"
	"github.com/sipprot/sipprot/policy"
)

// fleetSaveEvery spaces the saves of the fleet's decisions: a CAPI set is
// large, and a restart only needs it roughly current (the first pull
// brings it up to date).
const fleetSaveEvery = 10 * time.Second

// fleetState is what the daemon holds of the fleet: the client, the
// decisions enforced (others' only: this host's own come back from the
// LAPI and are already its dynamic blocks) and the table published to the
// engine, changed copy-on-write so decisions never wait on a pull.
type fleetState struct {
	client *fleet.Client // nil when the fleet is off or could not start
	url    string
	stop   context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	table     *policy.FleetBlocks
	held      map[netip.Prefix]fleet.Decision
	dirty     bool
	lastSaved time.Time
}

// fleetConfig is the fleet client's config from [fleet], the secrets read
// from their files.
func fleetConfig(c *conf.Config) (fleet.Config, error) {
	f := c.Fleet
	fc := fleet.Config{LAPIURL: f.LAPIURL, MachineID: f.MachineID, PollEvery: f.PollEvery.Duration,
		Origins: f.Origins, MaxDecisions: f.MaxDecisions}
	if f.MachineID != "" {
		pw, err := readSecret(f.PasswordFile, "fleet.password_file")
		if err != nil {
			return fc, err
		}
		fc.Password = fleet.Secret(pw)
		fc.OutboxDir = c.State.Dir + "/fleet-outbox"
	}
	if f.APIKeyFile != "" {
		key, err := readSecret(f.APIKeyFile, "fleet.api_key_file")
		if err != nil {
			return fc, err
		}
		fc.APIKey = fleet.Secret(key)
	}
	return fc, nil
}

// readSecret reads a one-line secret file; the error names the key and the
// file, never the content.
func readSecret(path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

// startFleet restores the saved fleet decisions into the engine and
// starts the client under the supervisor. A fleet that cannot start is a
// failed service: local protection goes on without it.
func (d *Daemon) startFleet(c *conf.Config) {
	fs := &fleetState{table: new(policy.FleetBlocks), held: map[netip.Prefix]fleet.Decision{}, url: c.Fleet.LAPIURL}
	d.fleet.Store(fs)
	if !c.Fleet.On() {
		d.engine.SetFleet(nil)
		return
	}
	saved, err := fleet.Load(c.State.Dir, time.Now())
	if err != nil {
		d.log.Error("saved fleet decisions unreadable: starting without them until the first pull", "err", err)
	}
	fs.apply(saved, nil)
	d.engine.SetFleet(fs.table)
	fc, err := fleetConfig(c)
	fc.Log = d.log
	var client *fleet.Client
	if err == nil {
		client, err = fleet.New(fc, func(add []fleet.Decision, del []netip.Prefix) {
			fs.apply(add, del)
			d.engine.SetFleet(fs.currentTable())
		})
	}
	if err != nil {
		d.sup.fail("fleet", err)
		return
	}
	client.Seed(saved)
	ctx, stop := context.WithCancel(context.Background())
	fs.client, fs.stop, fs.done = client, stop, make(chan struct{})
	d.sup.Go("fleet", func() error {
		defer close(fs.done)
		return client.Run(ctx)
	})
	d.log.Info("fleet on", "lapi", c.Fleet.LAPIURL, "push", fc.MachineID != "", "enforce", fc.APIKey != "", "restored", len(saved))
}

// stopFleet stops the client and saves its decisions.
func (d *Daemon) stopFleet() {
	fs := d.fleet.Load()
	if fs == nil || fs.client == nil {
		return
	}
	fs.stop()
	<-fs.done
	d.saveFleet(true)
}

// apply puts the stream's changes into the table, copy-on-write: the
// table in force is read by decisions meanwhile.
func (fs *fleetState) apply(add []fleet.Decision, del []netip.Prefix) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t := fs.table
	for _, p := range del {
		if _, ok := fs.held[p]; ok {
			delete(fs.held, p)
			t = t.DeletePersist(p)
		}
	}
	for _, dc := range add {
		if dc.Own {
			// This host's own block, already enforced locally; an unblock
			// here must not wait for the LAPI to forget it.
			if _, ok := fs.held[dc.Prefix]; ok {
				delete(fs.held, dc.Prefix)
				t = t.DeletePersist(dc.Prefix)
			}
			continue
		}
		fs.held[dc.Prefix] = dc
		t = t.InsertPersist(dc.Prefix, &policy.FleetBlock{Origin: dc.Origin, Scenario: dc.Scenario, Until: dc.Until, ID: dc.ID})
	}
	fs.table = t
	fs.dirty = fs.dirty || len(add) > 0 || len(del) > 0
}

func (fs *fleetState) currentTable() *policy.FleetBlocks {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.table
}

// saveFleet writes the held decisions when they changed, at most every
// fleetSaveEvery unless now.
func (d *Daemon) saveFleet(now bool) {
	fs := d.fleet.Load()
	if fs == nil || fs.client == nil {
		return
	}
	fs.mu.Lock()
	if !fs.dirty || (!now && time.Since(fs.lastSaved) < fleetSaveEvery) {
		fs.mu.Unlock()
		return
	}
	ds := make([]fleet.Decision, 0, len(fs.held))
	for _, dc := range fs.held {
		ds = append(ds, dc)
	}
	fs.dirty, fs.lastSaved = false, time.Now()
	fs.mu.Unlock()
	if err := fleet.Save(d.cfg.State.Dir, ds); err != nil {
		d.log.Error("saving fleet decisions failed", "err", err)
	}
}

// pushFleet shares a block or a lift with the fleet; it never waits (the
// client queues and counts what it cannot take).
func (d *Daemon) pushFleet(ev policy.Event) {
	fs := d.fleet.Load()
	if fs == nil || fs.client == nil {
		return
	}
	var err error
	switch ev.Kind {
	case policy.EventBlock:
		err = fs.client.Push(fleet.Block{Addr: ev.Addr, Reason: ev.Reason.String(), Start: ev.At, Until: ev.Until,
			UserAgent: ev.UserAgent, Country: ev.Country})
	case policy.EventUnblock:
		err = fs.client.Unblock(ev.Addr)
	}
	if err != nil && err != fleet.ErrPushOff {
		d.log.Warn("fleet: block not shared", "ip", ev.Addr.String(), "err", err)
	}
}

// fleetStatus is the fleet part of the status; nil when the fleet is off.
func (d *Daemon) fleetStatus() *control.FleetStatus {
	fs := d.fleet.Load()
	if fs == nil || fs.url == "" {
		return nil
	}
	st := &control.FleetStatus{LAPI: fs.url, Enforced: d.engine.FleetCount()}
	if fs.client == nil {
		st.LastPullErr = "not started (see failed)"
		return st
	}
	cs := fs.client.Status()
	st.PullConnected, st.LastPull, st.LastPullErr = cs.PullConnected, cs.LastPull, cs.LastPullErr
	st.PushConnected, st.LastPush, st.LastPushErr = cs.PushConnected, cs.LastPush, cs.LastPushErr
	st.InForce, st.Outbox, st.Pushed = cs.InForce, cs.Outbox, cs.Pushed
	r := cs.Refusals
	st.Refused = r.RangeTooWide + r.Full + r.Scope + r.Type + r.Malformed + r.Origin
	st.NotShared = r.QueueFull + r.OutboxFull
	return st
}

// fleetBlocks lists the fleet decisions enforced, sorted by prefix, at
// most limit (0: all), with the total.
func (d *Daemon) fleetBlocks(ip netip.Addr, limit int) control.FleetBlocks {
	fs := d.fleet.Load()
	var out control.FleetBlocks
	if fs == nil {
		return out
	}
	if ip.IsValid() {
		if b, ok := d.engine.Fleet(ip); ok {
			fs.mu.Lock()
			for p, dc := range fs.held {
				if dc.ID == b.ID && p.Contains(ip.Unmap()) {
					out.Blocks = append(out.Blocks, control.FleetBlockOf(dc))
					break
				}
			}
			fs.mu.Unlock()
			out.Total = len(out.Blocks)
		}
		return out
	}
	fs.mu.Lock()
	ds := make([]fleet.Decision, 0, len(fs.held))
	for _, dc := range fs.held {
		ds = append(ds, dc)
	}
	fs.mu.Unlock()
	slices.SortFunc(ds, func(a, b fleet.Decision) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	out.Total = len(ds)
	if limit > 0 && len(ds) > limit {
		ds = ds[:limit]
	}
	for _, dc := range ds {
		out.Blocks = append(out.Blocks, control.FleetBlockOf(dc))
	}
	return out
}
