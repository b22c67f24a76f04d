// Package daemon is `sipprot run`: it wires the config, the engine, the
// queues, the firewall rules and the state together, and keeps them going
// through reloads, floods and restarts.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/notify"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
	"github.com/sipprot/sipprot/rules"
	"github.com/sipprot/sipprot/savedblocks"
)

// Queues is the NFQUEUE side: bind, then serve until the context ends.
type Queues interface {
	// Open binds the queues; packets may arrive as soon as it returns.
	Open() error
	// Serve verdicts packets until ctx ends.
	Serve(ctx context.Context) error
	// Alive reports whether every queue is still verdicting; it feeds the
	// systemd watchdog.
	Alive() bool
	// Health reports each queue's counters and health.
	Health() []queue.QueueHealth
}

// Firewall installs and removes sipprot's netfilter rules.
type Firewall interface {
	Install() error
	Remove() error
}

// Options configure Run.
type Options struct {
	ConfigPath string
	// MustExist makes a missing config file an error rather than the
	// embedded defaults.
	MustExist bool
	// Stderr receives the logs.
	Stderr io.Writer
	// Reload receives a value for each SIGHUP.
	Reload <-chan struct{}
	// NewQueues and NewFirewall build the real parts; tests pass fakes.
	NewQueues   func(c *conf.Config, e *policy.Engine, log *slog.Logger) (Queues, error)
	NewFirewall func(c *conf.Config) (Firewall, error)
	// Clock defaults to the system clock.
	Clock policy.Clock
	// Admin serves the management web page on [admin] listen; tests
	// leave it off.
	Admin bool
	// Metrics serves /metrics on [metrics] listen; tests leave it off
	// unless they scrape it.
	Metrics bool
	// Version and Commit name the binary in sipprot_build_info.
	Version, Commit string
}

// How often state is written: block changes within a second, the
// clock restarts of blocked sources (every dropped packet) at most every
// half minute, since a full save costs more than a drop.
const (
	saveChanged = time.Second
	saveTouched = 30 * time.Second
)

// Daemon is one run of sipprot.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	level   *slog.LevelVar
	cfg     *conf.Config
	engine  *policy.Engine
	drops   policy.DropSample // the loop's, reused each second
	alog    *attacks.Log      // nil when the state directory refuses it
	mail    *notify.Notifier
	geo     atomic.Pointer[geoip.Store] // swapped whole when [geoip] changes
	stopGeo context.CancelFunc          // ends the current store's updates
	queues  Queues
	fw      Firewall
	started time.Time
	// The list watcher, restarted when a reload moves the list files.
	watchCtx  context.Context
	stopWatch context.CancelFunc
	changed   atomic.Bool   // blocks added or lifted since the last save
	touched   atomic.Bool   // blocked sources dropped since the last save
	saveNow   chan struct{} // a new block: save at once, a crash right after must not lose it
	saveMu    sync.Mutex
	// live is the config in force, for the control API's goroutines; cfg
	// is the loop's own copy.
	live      atomic.Pointer[conf.Config]
	reloadReq chan chan error // config reloads asked through the control API
	sup       *supervisor
	fleet     atomic.Pointer[fleetState] // swapped whole when [fleet] changes
	listsMu   sync.Mutex                 // one list application at a time (watcher, API)
}

// config returns the config in force; safe from any goroutine.
func (d *Daemon) config() *conf.Config { return d.live.Load() }

// Run runs the daemon until ctx ends, then removes its rules and saves
// its state. It returns an error if it cannot start.
func Run(ctx context.Context, opts Options) error {
	if opts.Stderr == nil {
		return errors.New("daemon: no log output")
	}
	cfg, err := conf.Load(opts.ConfigPath, opts.MustExist)
	if err != nil {
		return err
	}
	d := &Daemon{opts: opts, cfg: cfg, level: new(slog.LevelVar), reloadReq: make(chan chan error)}
	d.live.Store(cfg)
	d.level.Set(cfg.Log.SlogLevel())
	d.log = NewLogger(cfg.Log.Format, d.level, opts.Stderr)
	return d.run(ctx)
}

// NewLogger builds the slog logger of the config's log format; level may
// change while it runs.
func NewLogger(format string, level slog.Leveler, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func (d *Daemon) run(ctx context.Context) error {
	// Everything started below ends with the run, however it ends.
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	d.engine = policy.New(policy.Compile(d.cfg), d.opts.Clock)
	allow, deny, err := lists.LoadPair(d.cfg.Lists.Allow, d.cfg.Lists.Deny)
	if err != nil {
		return err
	}
	// Blocks are in force before the first packet is judged.
	saved, err := savedblocks.Load(d.cfg.State.Dir)
	if err != nil {
		// A torn or corrupt file must not keep the PBX unprotected: it is
		// kept aside for the operator and the daemon starts without it.
		aside, merr := savedblocks.MoveAside(filepath.Join(d.cfg.State.Dir, savedblocks.File), time.Now())
		if merr != nil {
			return fmt.Errorf("%w; and it cannot be moved aside: %v", err, merr)
		}
		d.log.Error("saved blocks unreadable: moved aside, starting without them", "err", err, "moved_to", aside)
		saved = nil
	}
	for _, b := range saved {
		d.engine.Restore(b)
	}
	// An address allowed while the daemon was stopped loses its block now.
	d.applyLists(allow, deny, nil)
	d.saveNow = make(chan struct{}, 1)
	savedblocks.RemoveStaleTemp(d.cfg.State.Dir)
	d.alog, err = attacks.Open(d.cfg.State.Dir, d.cfg.State.RetentionDays, time.Local)
	switch {
	case errors.Is(err, attacks.ErrPrune):
		d.log.Warn("old attack log files not removed", "err", err)
	case err != nil:
		// Protection does not depend on the log: run without it.
		d.log.Error("attack log not kept: reports will miss this run", "err", err)
		d.alog = nil
	}
	d.useGeoIP(d.cfg)
	d.warnGeoIP()
	d.log.Info("state restored", "blocks", len(saved), "dir", d.cfg.State.Dir, "config", d.cfg.Source())

	d.mail = notify.New(notify.SettingsOf(d.cfg), d.cfg.State.Dir, d.dayReport, d.log)
	// Every long-running goroutine runs under the supervisor, which waits
	// for them all at stop and records a service that failed to serve.
	d.sup = newSupervisor(d.log)
	evCtx, stopEvents := context.WithCancel(context.Background())
	evDone := make(chan struct{})
	d.sup.Go("events", func() error { defer close(evDone); d.consume(evCtx); return nil })
	// Email goes out off the packet path; a hung server delays only mail.
	d.sup.Go("email", func() error { d.mail.Run(evCtx); return nil })
	// Fleet decisions saved by the last run are in force before the first
	// packet; the client's pulls and pushes never hold a verdict.
	d.startFleet(d.cfg)
	defer func() {
		cancelRun()
		stopEvents()
		<-evDone // its last blocks are pushed before the fleet stops
		d.stopFleet()
		d.sup.Wait()
		d.sampleDrops()
		if err := d.save(); err != nil {
			d.log.Error("saving state failed", "err", err)
		}
		if d.alog != nil {
			if err := d.alog.Close(); err != nil {
				d.log.Error("writing the attack log failed", "err", err)
			}
		}
	}()

	if d.queues, err = d.opts.NewQueues(d.cfg, d.engine, d.log); err != nil {
		return err
	}
	if err := d.queues.Open(); err != nil {
		return err
	}
	// Serve at once: rules left by a crash send packets as soon as the
	// queues are bound. Serving outlives ctx so that, on stop, the rules go
	// first and no packet waits on a closed queue.
	sctx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	serveErr := make(chan error, 1)
	d.sup.Go("queues", func() error {
		err := d.queues.Serve(sctx)
		serveErr <- err
		return err
	})

	if d.fw, err = d.opts.NewFirewall(d.cfg); err != nil {
		return err
	}
	if err := d.fw.Install(); err != nil {
		return fmt.Errorf("install rules: %w", err)
	}
	defer func() {
		// Stopping removes every rule sipprot added; a crash leaves them,
		// and fail-open keeps SIP flowing until the next start reuses them.
		if err := d.fw.Remove(); err != nil {
			d.log.Error("removing rules failed", "err", err)
		} else {
			d.log.Info("rules removed")
		}
	}()
	d.watchLists(ctx)
	defer func() { d.stopWatch() }()
	stopControl := d.serveControl()
	defer stopControl()
	stopAdmin := d.serveAdmin()
	defer stopAdmin()
	stopMetrics := d.serveMetrics()
	defer stopMetrics()
	d.runGeoIP(ctx)

	d.started = time.Now()
	d.writeStatus(true)
	defer d.writeStatus(false)
	d.log.Info("sipprot ready", "mode", d.cfg.Queue.Mode, "queues", d.cfg.Queue.Count, "first_queue", d.cfg.Queue.Number,
		"protocols", fmt.Sprint(d.cfg.SIP.Protocols), "ports", fmt.Sprint(d.cfg.SIP.Ports))
	sd.SdNotify(false, sd.SdNotifyReady)

	return d.loop(ctx, serveErr)
}

// loop runs the periodic work until ctx ends or the queues fail.
func (d *Daemon) loop(ctx context.Context, serveErr <-chan error) error {
	sweep := time.NewTicker(saveChanged)
	defer sweep.Stop()
	stats := time.NewTicker(time.Minute)
	defer stats.Stop()
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	var watchdog <-chan time.Time
	if iv, err := sd.SdWatchdogEnabled(false); err == nil && iv > 0 {
		t := time.NewTicker(iv / 3)
		defer t.Stop()
		watchdog = t.C
	}
	lastTouchedSave, lastGeoWarn, lastPrune := time.Now(), time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			sd.SdNotify(false, sd.SdNotifyStopping)
			d.log.Info("stopping")
			return nil
		case err := <-serveErr:
			return fmt.Errorf("queues: %w", err)
		case <-d.opts.Reload:
			d.reload()
		case ch := <-d.reloadReq:
			ch <- d.reload()
		case <-d.saveNow:
			if err := d.save(); err != nil {
				d.log.Error("saving state failed", "err", err)
			}
		case <-sweep.C:
			d.engine.Sweep()
			d.sampleDrops()
			d.flushAttackLog()
			d.saveFleet(false)
			if d.changed.Load() || (d.touched.Load() && time.Since(lastTouchedSave) >= saveTouched) {
				lastTouchedSave = time.Now()
				if err := d.save(); err != nil {
					d.log.Error("saving state failed", "err", err)
				}
			}
		case <-watchdog:
			// A wedged queue stops the pings and systemd restarts us.
			if d.queues.Alive() {
				sd.SdNotify(false, sd.SdNotifyWatchdog)
			} else {
				d.log.Warn("a queue stopped verdicting: not feeding the watchdog")
			}
		case <-stats.C:
			d.logStats()
			if d.alog != nil && time.Now().Day() != lastPrune.Day() {
				lastPrune = time.Now()
				if n, err := d.alog.Prune(lastPrune); err != nil {
					d.log.Warn("old attack log files not removed", "err", err)
				} else if n > 0 {
					d.log.Info("attack log files past retention removed", "files", n, "retention_days", d.cfg.State.RetentionDays)
				}
			}
			if time.Since(lastGeoWarn) >= time.Hour {
				lastGeoWarn = time.Now()
				d.warnGeoIP()
			}
		case <-status.C:
			d.writeStatus(true)
		}
	}
}

// consume takes the engine's block and unblock events as they come: the
// block log lines, the attack log, the email and what needs saving. At
// stop it takes what is left, so a block made just before is kept.
func (d *Daemon) consume(ctx context.Context) {
	var evs []policy.Event
	for {
		select {
		case <-ctx.Done():
			d.handle(d.engine.TakeEvents(evs[:0]))
			return
		case <-d.engine.Ready():
			evs = d.engine.TakeEvents(evs[:0])
			d.handle(evs)
		}
	}
}

func (d *Daemon) handle(evs []policy.Event) {
	for _, ev := range evs {
		if d.alog != nil {
			d.alog.Record(ev)
		}
		d.changed.Store(true)
		switch ev.Kind {
		case policy.EventBlock:
			d.requestSave() // a crash right after a block must not lose it
			d.mail.Block(ev)
			d.pushFleet(ev)
			d.log.Info("blocked", "ip", ev.Addr.String(), "reason", ev.Reason.String(), "user_agent", ev.UserAgent,
				"country", ev.Country, "permanent", ev.Permanent, "count", ev.Count)
		case policy.EventUnblock:
			d.pushFleet(ev)
			d.log.Info("unblocked", "ip", ev.Addr.String(), "reason", ev.Reason.String())
		}
	}
}

// sampleDrops moves the engine's drop counters of the last second to the
// attack log; dropped packets of blocked sources make the saved blocks
// worth rewriting (their clocks restarted).
func (d *Daemon) sampleDrops() {
	d.engine.SampleDrops(&d.drops)
	if d.drops.ByReason[policy.ReasonDynamic] > 0 {
		d.touched.Store(true)
	}
	if d.alog != nil {
		d.alog.RecordDrops(&d.drops)
	}
}

// useGeoIP builds the country store of cfg, loads its database and puts
// it in force.
func (d *Daemon) useGeoIP(cfg *conf.Config) {
	g := geoip.NewStore(geoip.ConfigFrom(cfg.GeoIP), geoip.WithLogger(d.log))
	if err := g.Load(); err != nil {
		d.log.Error("geoip database not usable; every other rule still protects", "err", err)
	}
	d.engine.SetCountryLookup(g)
	d.geo.Store(g)
}

// runGeoIP runs the current store's updates until ctx ends or the store
// is replaced.
func (d *Daemon) runGeoIP(ctx context.Context) {
	if d.stopGeo != nil {
		d.stopGeo()
	}
	ctx, d.stopGeo = context.WithCancel(ctx)
	g := d.geo.Load()
	d.sup.Go("geoip", func() error {
		if err := g.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("geoip updates: %w", err)
		}
		return nil
	})
}

// warnGeoIP says, at start and hourly, that countries are configured but
// cannot be enforced; every other rule works meanwhile.
func (d *Daemon) warnGeoIP() {
	if g := d.geo.Load(); len(d.cfg.SIP.BlockedCountries) > 0 && !g.Usable() {
		d.log.Warn("countries configured but no usable GeoIP database: not enforced until an update succeeds",
			"countries", fmt.Sprint(d.cfg.SIP.BlockedCountries), "reason", g.Warning())
	}
}

// flushAttackLog writes the attack log's pending lines.
func (d *Daemon) flushAttackLog() {
	if d.alog == nil {
		return
	}
	if err := d.alog.Flush(); err != nil {
		d.log.Error("writing the attack log failed", "err", err)
	}
}

// requestSave asks the loop to save the state now.
func (d *Daemon) requestSave() {
	select {
	case d.saveNow <- struct{}{}:
	default:
	}
}

// refreshLists reads c's list files and puts them in force, with the
// rules of pc in the same step when pc is not nil (a config reload), so no
// packet is judged by new rules with old lists. The read is under the lock
// too: of two concurrent refreshes (the watcher, a CLI edit, a config
// reload), the one applied last has read the files last, so the lists in
// force are never older than the files.
func (d *Daemon) refreshLists(c *conf.Config, pc *policy.Config) (allow, deny []lists.Entry, lifted []netip.Addr, err error) {
	d.listsMu.Lock()
	defer d.listsMu.Unlock()
	allow, deny, err = lists.LoadPair(c.Lists.Allow, c.Lists.Deny)
	if err != nil {
		return nil, nil, nil, err
	}
	return allow, deny, d.applyLists(allow, deny, pc), nil
}

// applyLists publishes new lists (and rules, when pc is not nil) in one
// snapshot; an address the allow list now covers loses its dynamic block.
// It returns those addresses. Callers other than the start hold listsMu.
func (d *Daemon) applyLists(allow, deny []lists.Entry, pc *policy.Config) []netip.Addr {
	allowSet := lists.PrefixSet(allow)
	d.engine.Publish(policy.Settings{Config: pc, Lists: true, Allow: allowSet, Deny: lists.PrefixSet(deny)})
	lifted := policy.BlocksToLift(d.engine.Blocks(), allowSet, time.Now())
	for _, a := range lifted {
		d.engine.Unblock(a)
		d.log.Info("allow list lifts a dynamic block", "ip", a.String())
	}
	return lifted
}

// watchLists reloads the list files within a second of any change, so CLI
// and hand edits apply without a restart; a bad file keeps the lists in
// force.
func (d *Daemon) watchLists(parent context.Context) {
	d.watchCtx = parent
	ctx, cancel := context.WithCancel(parent)
	d.stopWatch = cancel
	allowPath, denyPath := d.cfg.Lists.Allow, d.cfg.Lists.Deny
	log := d.log
	// On a fresh host the lists' directory may not exist yet; create it so
	// that the first `sipprot allow add` is seen.
	for _, p := range []string{allowPath, denyPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			log.Warn("cannot create the lists' directory", "dir", filepath.Dir(p), "err", err)
		}
	}
	d.sup.Go("lists", func() error {
		err := lists.Watch(ctx, allowPath, denyPath, func([]lists.Entry, []lists.Entry) {
			// Read again under the lock rather than apply what the
			// watcher read: a CLI edit may have applied newer files since.
			allow, deny, _, err := d.refreshLists(d.config(), nil)
			if err != nil {
				log.Error("lists not reloaded, keeping the lists in force", "err", err)
				return
			}
			log.Info("lists reloaded", "allow", len(allow), "deny", len(deny))
		}, func(f string, a ...any) { log.Error(fmt.Sprintf(f, a...)) })
		if err != nil {
			return fmt.Errorf("list files not watched, edits apply on SIGHUP only: %w", err)
		}
		return nil
	})
}

func (d *Daemon) save() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.changed.Store(false)
	d.touched.Store(false)
	return savedblocks.Save(d.cfg.State.Dir, d.engine.Blocks(), time.Now())
}

// reload applies a new config and lists on SIGHUP or through the control
// API. A bad config or list is refused as a whole and the running one
// kept; the error says why.
func (d *Daemon) reload() error {
	cfg, err := conf.Load(d.opts.ConfigPath, d.opts.MustExist)
	if err != nil {
		d.log.Error("config reload refused, keeping the running config", "err", err)
		return fmt.Errorf("config reload refused: %w", err)
	}
	if _, _, err := lists.LoadPair(cfg.Lists.Allow, cfg.Lists.Deny); err != nil { // checked before anything changes
		d.log.Error("config reload refused, keeping the running config", "err", err)
		return fmt.Errorf("config reload refused: %w", err)
	}
	if !reflect.DeepEqual(rules.SettingsOf(cfg), rules.SettingsOf(d.cfg)) {
		fw, err := d.opts.NewFirewall(cfg)
		if err == nil {
			err = fw.Install()
		}
		if err != nil {
			d.log.Error("config reload refused: rules", "err", err)
			return fmt.Errorf("config reload refused: rules: %w", err)
		}
		d.fw = fw
	}
	if cfg.Queue.Number != d.cfg.Queue.Number || cfg.Queue.Count != d.cfg.Queue.Count || cfg.Queue.FailOpen != d.cfg.Queue.FailOpen {
		d.log.Warn("queue number, count and fail_open apply at the next restart")
	}
	old := d.cfg
	// What only a restart can change keeps its running value, so the
	// config in force describes what the daemon does.
	if cfg.Admin.Socket != old.Admin.Socket {
		d.log.Warn("admin.socket applies at the next restart")
		cfg.Admin.Socket = old.Admin.Socket
	}
	if cfg.Admin.Listen != old.Admin.Listen || cfg.Admin.TLSCert != old.Admin.TLSCert || cfg.Admin.TLSKey != old.Admin.TLSKey {
		d.log.Warn("admin.listen, tls_cert and tls_key apply at the next restart")
		cfg.Admin.Listen, cfg.Admin.TLSCert, cfg.Admin.TLSKey = old.Admin.Listen, old.Admin.TLSCert, old.Admin.TLSKey
	}
	if cfg.Metrics != old.Metrics {
		d.log.Warn("metrics.listen, tls_cert and tls_key apply at the next restart")
		cfg.Metrics = old.Metrics
	}
	if cfg.State.Dir != old.State.Dir {
		d.log.Warn("state.dir applies at the next restart")
		cfg.State.Dir = old.State.Dir
	}
	if cfg.Log.Format != old.Log.Format {
		d.log.Warn("log.format applies at the next restart")
	}
	pc := policy.Compile(cfg)
	if _, _, _, err := d.refreshLists(cfg, &pc); err != nil {
		// Read a moment ago: the files changed since. The rules apply, the
		// lists in force stay.
		d.log.Error("lists not reloaded, keeping the lists in force", "err", err)
		d.engine.Reload(pc)
	}
	d.mail.Reload(notify.SettingsOf(cfg))
	d.level.Set(cfg.Log.SlogLevel())
	d.cfg = cfg
	d.live.Store(cfg)
	if cfg.Lists != old.Lists {
		d.stopWatch()
		d.watchLists(d.watchCtx)
	}
	if cfg.GeoIP != old.GeoIP {
		// The new store loads its database before it replaces the old one:
		// verdicts never see a missing lookup.
		d.useGeoIP(cfg)
		d.runGeoIP(d.watchCtx)
		d.log.Info("geoip settings applied", "database", cfg.GeoIP.Database, "update_url", cfg.GeoIP.UpdateURL)
	}
	if !reflect.DeepEqual(cfg.Fleet, old.Fleet) {
		// A new LAPI or login: the old client stops (its decisions saved),
		// the new one starts from them and resyncs.
		d.stopFleet()
		d.startFleet(cfg)
	}
	d.log.Info("config reloaded", "config", cfg.Source())
	return nil
}

func (d *Daemon) logStats() {
	if !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s := d.engine.Stats()
	args := []any{"packets", s.Packets, "sip_messages", s.SIPMessages, "malformed", s.Malformed, "events_lost", s.EventsLost,
		"unbound_credentials", s.Unbound, "failures_refused_proven", s.ProvenRefused}
	for r, n := range s.Dropped {
		args = append(args, "dropped_"+r.String(), n)
	}
	d.log.Debug("counters", args...)
	for _, q := range d.queues.Health() {
		d.log.Debug("queue", "number", q.Number, "healthy", q.Healthy, "problem", q.Problem, "packets", q.Packets,
			"dropped", q.Dropped, "errors", q.Errors, "enobufs", q.ENOBUFS, "lost", q.Lost, "reopens", q.Reopens,
			"kernel_dropped", q.KernelDropped, "user_dropped", q.UserDropped, "waiting", q.Waiting)
	}
}
