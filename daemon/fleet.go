package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
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

// fleetState is what the daemon holds of the fleet: the client and the
// table of decisions enforced (others' only: this host's own come back
// from the LAPI and are already its dynamic blocks), published to the
// engine and changed copy-on-write so decisions never wait on a pull. The
// table is the one record: saving and listing read it.
type fleetState struct {
	client *fleet.Client // nil when the fleet is off or could not start
	url    string
	stop   context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	table     *policy.FleetBlocks
	dirty     bool
	lastSaved time.Time
}

// fleetConfig is the fleet client's config from [fleet], the secrets read
// from their files.
func fleetConfig(c *conf.Config) (fleet.Config, error) {
	f := c.Fleet
	fc := fleet.Config{LAPIURL: f.LAPIURL, MachineID: f.MachineID, PollEvery: f.PollEvery.Duration,
		ResyncEvery: f.ResyncEvery.Duration,
		Origins:     f.Origins, MaxDecisions: f.MaxDecisions}
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
	fs := &fleetState{table: new(policy.FleetBlocks), url: c.Fleet.LAPIURL}
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
	// A few changes copy only their paths; many (a startup stream, chunk
	// by chunk) are cheaper on one private copy changed in place.
	bulk := len(add)+len(del) > 256
	if bulk {
		t = t.Clone()
	}
	insert := func(p netip.Prefix, b *policy.FleetBlock) {
		if bulk {
			t.Insert(p, b)
		} else {
			t = t.InsertPersist(p, b)
		}
	}
	remove := func(p netip.Prefix) {
		if bulk {
			t.Delete(p)
		} else {
			t = t.DeletePersist(p)
		}
	}
	for _, p := range del {
		if _, ok := t.Get(p); ok {
			remove(p)
		}
	}
	for _, dc := range add {
		if dc.Own {
			// This host's own block, already enforced locally; an unblock
			// here must not wait for the LAPI to forget it.
			if _, ok := t.Get(dc.Prefix); ok {
				remove(dc.Prefix)
			}
			continue
		}
		insert(dc.Prefix, &policy.FleetBlock{Origin: dc.Origin, Scenario: dc.Scenario, Until: dc.Until, ID: dc.ID})
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
	t := fs.table
	fs.dirty, fs.lastSaved = false, time.Now()
	fs.mu.Unlock()
	// The table is immutable once published: read it unlocked.
	ds := make([]fleet.Decision, 0, t.Size())
	for p, b := range t.All() {
		ds = append(ds, decisionOf(p, b))
	}
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

// decisionOf is a table entry as the fleet package names it.
func decisionOf(p netip.Prefix, b *policy.FleetBlock) fleet.Decision {
	return fleet.Decision{Prefix: p, Origin: b.Origin, Scenario: b.Scenario, Until: b.Until, ID: b.ID}
}

// fleetBlocks lists the fleet decisions enforced, sorted by prefix, at
// most limit (0: all), with the total; with ip set, the one holding it.
func (d *Daemon) fleetBlocks(ip netip.Addr, limit int) control.FleetBlocks {
	var out control.FleetBlocks
	fs := d.fleet.Load()
	if fs == nil {
		return out
	}
	t := fs.currentTable()
	if ip.IsValid() {
		a := ip.Unmap()
		if p, b, ok := t.LookupPrefixLPM(netip.PrefixFrom(a, a.BitLen())); ok && b.Until.After(time.Now()) {
			out.Blocks, out.Total = []control.FleetBlock{control.FleetBlockOf(decisionOf(p, b))}, 1
		}
		return out
	}
	out.Total = t.Size()
	for p, b := range t.AllSorted() {
		if limit > 0 && len(out.Blocks) == limit {
			break
		}
		out.Blocks = append(out.Blocks, control.FleetBlockOf(decisionOf(p, b)))
	}
	return out
}
