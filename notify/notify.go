// Package notify sends sipprot's email: an alert when sources are blocked
// (at most one per notify.per_attack_every, the blocks in between batched
// into the next), a daily summary of the previous day, and test emails.
//
// It stays out of the way of the packet path: Block only merges an event
// into a bounded in-memory batch under a short lock; rendering, disk and
// SMTP run in the Notifier's own goroutines. Pending blocks and rendered
// emails are kept in the state directory (see state.go), so a restart
// sends them later, and an unreachable or refusing server is retried with
// exponential backoff.
package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/policy"
)

// Defaults of the delivery policy.
const (
	// retryMin is the wait after a first failed delivery; it doubles with
	// each failure up to retryMax.
	retryMin = 30 * time.Second
	retryMax = 10 * time.Minute
	// maxAge is how long an email is retried before it is given up,
	// logged as an error.
	maxAge = 7 * 24 * time.Hour
	// maxBatch is how many sources an alert lists; blocks of further
	// sources are counted. It bounds the batch's memory and the email.
	maxBatch = 1000
	// saveEvery spaces the writes of the batch during a flood of blocks.
	saveEvery = 200 * time.Millisecond
	// tickMax is the longest the loops sleep, so a wall clock that jumps
	// (suspend, manual setting) delays nothing by more than that.
	tickMax = time.Minute
	// dailyRetry is the wait after the report for the summary failed.
	dailyRetry = 10 * time.Minute
	// shutdownGrace is how long Run lets a session in progress finish.
	shutdownGrace = 5 * time.Second
)

// Option configures a Notifier or SendTest.
type Option func(*settings)

type settings struct {
	clock    Clock
	loc      *time.Location
	tls      *tls.Config
	hostname string
	grace    time.Duration
}

// WithClock runs the notifier on c instead of the wall clock (tests).
func WithClock(c Clock) Option { return func(s *settings) { s.clock = c } }

// WithLocation sets the time zone of notify.daily_at and of the times in
// emails; the default is the local zone.
func WithLocation(loc *time.Location) Option { return func(s *settings) { s.loc = loc } }

// WithTLSConfig sets the base TLS settings for the SMTP server, such as a
// private CA in RootCAs; the default trusts the system's CAs.
func WithTLSConfig(c *tls.Config) Option { return func(s *settings) { s.tls = c } }

// WithHostname sets the host name shown in emails and used in HELO and in
// the default sender; the default is the system's.
func WithHostname(h string) Option { return func(s *settings) { s.hostname = h } }

// withGrace sets the shutdown grace (tests).
func withGrace(d time.Duration) Option { return func(s *settings) { s.grace = d } }

func newSettings(opts []Option) settings {
	s := settings{clock: systemClock{}, loc: time.Local, grace: shutdownGrace}
	for _, o := range opts {
		o(&s)
	}
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	s.hostname = cleanHost(s.hostname)
	return s
}

// cleanHost keeps a host name to the characters of a DNS name, as it goes
// into subjects, HELO and the sender address.
func cleanHost(h string) string {
	h = strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, h)
	if h == "" {
		return "localhost"
	}
	return h
}

// Notifier batches block events into alerts, makes the daily summary and
// delivers both. Block, Reload and Status are safe from any goroutine.
type Notifier struct {
	settings
	log    *slog.Logger
	dir    string
	report func(day time.Time) (attacks.Report, error)

	// Limits, fixed at New; tests lower them.
	maxBatch           int
	retryMin, retryMax time.Duration
	maxAge             time.Duration

	wakeSched, wakeSend chan struct{}
	saveMu              sync.Mutex // held over snapshot and write, so writes keep their order

	mu         sync.Mutex
	cfg        *Settings
	doc        stateDoc
	outbox     []*Mail // sequence order
	dirty      bool    // doc changed since the last save
	failures   int     // consecutive failed deliveries
	pauseUntil time.Time
	offLogged  string
	dailyAfter time.Time // the daily report failed; try again then
	lastSave   time.Time // wall clock: spaces disk writes, not schedule
}

// New returns a notifier for cfg that keeps its files in
// stateDir/notify. report returns the day's report (the day at midnight
// in the notifier's location); the daily summary at notify.daily_at
// covers the previous day. log may be nil. New reads the saved state;
// a corrupt file is moved aside and logged, never fatal.
func New(cfg *Settings, stateDir string, report func(day time.Time) (attacks.Report, error), log *slog.Logger, opts ...Option) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		settings:  newSettings(opts),
		log:       log,
		dir:       filepath.Join(stateDir, DirName),
		report:    report,
		maxBatch:  maxBatch,
		retryMin:  retryMin,
		retryMax:  retryMax,
		maxAge:    maxAge,
		wakeSched: make(chan struct{}, 1),
		wakeSend:  make(chan struct{}, 1),
		cfg:       cfg,
		offLogged: "unknown",
	}
	n.load()
	return n
}

// load reads state.json and the outbox, and reconciles them after a crash
// between writing an email and saving the state.
func (n *Notifier) load() {
	removeTemps(n.dir)
	removeTemps(filepath.Join(n.dir, outboxName))
	now := n.clock.Now()
	doc, err := readState(n.dir)
	if err != nil {
		aside := moveAside(filepath.Join(n.dir, stateName), now)
		n.log.Error("notify state unreadable; starting afresh", "err", err, "moved_to", aside)
		doc = stateDoc{}
	}
	names, err := outboxFiles(n.dir)
	if err != nil {
		n.log.Error("notify outbox unreadable", "err", err)
	}
	var outbox []*Mail
	for _, name := range names {
		m, err := readMail(filepath.Join(n.dir, outboxName, name))
		if err != nil {
			aside := moveAside(filepath.Join(n.dir, outboxName, name), now)
			n.log.Error("email in the outbox unreadable; set aside", "err", err, "moved_to", aside)
			continue
		}
		outbox = append(outbox, m)
		// Written but the state not saved after it: the email already
		// holds the batch that the state still has.
		if m.Seq > doc.Seq {
			doc.Seq = m.Seq
			if m.Kind == kindAlert {
				doc.Batch = batch{}
				if m.Created.After(doc.LastAlert) {
					doc.LastAlert = m.Created
				}
			}
			if m.Kind == kindDaily && m.Day > doc.LastDaily {
				doc.LastDaily = m.Day
			}
		}
	}
	doc.Batch.reindex()
	n.doc, n.outbox = doc, outbox
}

// Block adds a block event to the next alert. It never waits on disk or
// network: it takes one short lock and returns. Other kinds of event are
// ignored.
func (n *Notifier) Block(ev policy.Event) {
	if ev.Kind != policy.EventBlock {
		return
	}
	n.mu.Lock()
	if OffReason(n.cfg) != "" || !n.cfg.Notify.PerAttack {
		n.mu.Unlock()
		return
	}
	n.doc.Batch.add(ev, n.maxBatch)
	n.dirty = true
	n.mu.Unlock()
	signal(n.wakeSched)
}

// Reload applies a new config: recipients, schedule and SMTP settings
// apply to the next email; emails already rendered keep their recipients.
func (n *Notifier) Reload(cfg *Settings) {
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
	signal(n.wakeSched)
	signal(n.wakeSend)
}

// Status returns the live status.
func (n *Notifier) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.statusLocked()
}

func (n *Notifier) statusLocked() Status {
	st := n.doc.Status
	st.Off = OffReason(n.cfg)
	st.Pending = len(n.outbox)
	st.NextTry = time.Time{}
	for _, m := range n.outbox {
		if st.NextTry.IsZero() || m.NextTry.Before(st.NextTry) {
			st.NextTry = m.NextTry
		}
	}
	if st.Pending > 0 && st.NextTry.Before(n.pauseUntil) {
		st.NextTry = n.pauseUntil
	}
	st.PendingBlocks = n.doc.Batch.blocks()
	st.NextAlert = time.Time{}
	if !n.doc.Batch.empty() {
		st.NextAlert = n.alertDue()
	}
	return st
}

// alertDue is when the next alert may go.
func (n *Notifier) alertDue() time.Time {
	if n.doc.LastAlert.IsZero() {
		return time.Time{}
	}
	return n.doc.LastAlert.Add(n.cfg.Notify.PerAttackEvery.Duration)
}

// Settings are the config sections the notifier reads: whom to tell and
// when, and the SMTP server.
type Settings struct {
	Notify conf.Notify
	SMTP   conf.SMTP
}

// SettingsOf takes the notifier's settings out of a loaded config.
func SettingsOf(c *conf.Config) *Settings {
	return &Settings{Notify: c.Notify, SMTP: c.SMTP}
}

// OffReason says why cfg lets no email go, or "" when it does.
func OffReason(cfg *Settings) string {
	switch {
	case cfg.SMTP.Host == "":
		return "smtp.host is empty"
	case len(cfg.Notify.Recipients) == 0:
		return "no recipients"
	}
	return ""
}

// recipients returns the bare addresses of notify.recipients.
func recipients(cfg *Settings) []string {
	out := make([]string, 0, len(cfg.Notify.Recipients))
	for _, r := range cfg.Notify.Recipients {
		if a, err := parseAddress(r); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run makes and delivers the emails until ctx ends, then saves the state.
// A delivery in progress gets a few seconds to finish; cut off, its email
// stays in the outbox for the next start.
func (n *Notifier) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(n.dir, outboxName), 0o750); err != nil {
		n.log.Error("notify: cannot create the outbox; emails are kept in memory only", "err", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { n.sendLoop(ctx) })
	n.scheduleLoop(ctx)
	wg.Wait()
	n.save()
	return nil
}

// timer reuses the channel of the last wake-up while its time is the
// same, so a fake clock does not pile up waiters.
type timer struct {
	at time.Time
	c  <-chan time.Time
}

func (t *timer) wait(c Clock, at time.Time) <-chan time.Time {
	if t.c == nil || !at.Equal(t.at) {
		t.at, t.c = at, c.At(at)
	}
	return t.c
}

func (n *Notifier) scheduleLoop(ctx context.Context) {
	var tm timer
	for {
		now := n.clock.Now()
		n.schedule(ctx, now)
		var saveC <-chan time.Time
		n.mu.Lock()
		dirty, since := n.dirty, time.Since(n.lastSave)
		n.mu.Unlock()
		if dirty {
			if since >= saveEvery {
				n.save()
			} else {
				saveC = time.After(saveEvery - since)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wakeSched:
		case <-saveC:
		case <-tm.wait(n.clock, n.nextSchedule(now)):
		}
	}
}

// schedule renders what is due at now.
func (n *Notifier) schedule(ctx context.Context, now time.Time) {
	n.mu.Lock()
	cfg := n.cfg
	if off := OffReason(cfg); off != n.offLogged {
		if off != "" {
			n.log.Info("email notifications off", "reason", off)
		} else {
			n.log.Info("email notifications on", "recipients", len(cfg.Notify.Recipients), "smtp", cfg.SMTP.Addr())
		}
		n.offLogged = off
	}
	n.mu.Unlock()
	n.alertStep(now, cfg)
	n.dailyStep(ctx, now, cfg)
}

// nextSchedule is when schedule has something to do next.
func (n *Notifier) nextSchedule(now time.Time) time.Time {
	next := now.Add(tickMax)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.doc.Batch.empty() {
		if due := n.alertDue(); due.Before(next) {
			next = due
		}
	}
	if at := n.dailyTime(now, n.cfg); at.After(now) && at.Before(next) {
		next = at
	}
	if n.dailyAfter.After(now) && n.dailyAfter.Before(next) {
		next = n.dailyAfter
	}
	return next
}

func (n *Notifier) alertStep(now time.Time, cfg *Settings) {
	n.mu.Lock()
	if n.doc.Batch.empty() {
		n.mu.Unlock()
		return
	}
	if OffReason(cfg) != "" || !cfg.Notify.PerAttack {
		n.doc.Batch, n.dirty = batch{}, true
		n.mu.Unlock()
		return
	}
	every := cfg.Notify.PerAttackEvery.Duration
	if due := n.alertDue(); now.Before(due) && !due.After(now.Add(every)) {
		n.mu.Unlock()
		return
	}
	// Due (or the wall clock went back by more than a period).
	b := n.doc.Batch
	n.doc.Batch = batch{}
	n.doc.Seq++
	n.doc.LastAlert = now
	seq := n.doc.Seq
	n.dirty = true
	n.mu.Unlock()

	subject, text, html := renderAlert(n.hostname, &b, every, n.loc)
	n.enqueue(&Mail{ID: mailID(seq, kindAlert), Kind: kindAlert, Seq: seq, To: recipients(cfg),
		Subject: subject, Text: text, HTML: html, Created: now, NextTry: now})
	n.log.Info("alert email queued", "sources", len(b.Entries)+b.MoreSources, "blocks", b.blocks())
}

// dailyTime is today's notify.daily_at, in the notifier's zone.
func (n *Notifier) dailyTime(now time.Time, cfg *Settings) time.Time {
	l := now.In(n.loc)
	at := time.Date(l.Year(), l.Month(), l.Day(), cfg.Notify.DailyAt.Hour, cfg.Notify.DailyAt.Minute, 0, 0, n.loc)
	if !at.After(now) {
		at = time.Date(l.Year(), l.Month(), l.Day()+1, cfg.Notify.DailyAt.Hour, cfg.Notify.DailyAt.Minute, 0, 0, n.loc)
	}
	return at
}

// dailyStep makes the summary of the day before the last daily_at that
// has passed, once. After days without the daemon only the latest day is
// summarized; a fresh state directory starts with the next daily_at.
func (n *Notifier) dailyStep(ctx context.Context, now time.Time, cfg *Settings) {
	next := n.dailyTime(now, cfg)
	// The last passed daily_at is the day before the next one.
	last := next.AddDate(0, 0, -1)
	covered := time.Date(last.Year(), last.Month(), last.Day()-1, 0, 0, 0, 0, n.loc)
	day := covered.Format(time.DateOnly)

	n.mu.Lock()
	done := n.doc.LastDaily
	retryLater := now.Before(n.dailyAfter)
	n.mu.Unlock()
	if done >= day || retryLater {
		return
	}
	markDone := func() {
		n.mu.Lock()
		n.doc.LastDaily, n.dirty = day, true
		n.mu.Unlock()
	}
	switch {
	case done == "":
		markDone() // first start: no summary of a day not watched
		return
	case OffReason(cfg) != "" || !cfg.Notify.DailySummary:
		markDone()
		return
	case n.report == nil:
		n.log.Error("daily summary: no report source")
		markDone()
		return
	}
	r, err := n.report(covered)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		n.log.Error("daily summary: cannot build the report; trying again later", "day", day, "err", err, "retry_in", dailyRetry)
		n.mu.Lock()
		n.dailyAfter = now.Add(dailyRetry)
		n.mu.Unlock()
		return
	}
	if r.Date == "" {
		r.Date = day
	}
	// A quiet day still gets a short "all quiet" email (the operator
	// learns the notifications work) unless daily_summary_quiet = false.
	if r.Quiet() && !cfg.Notify.DailySummaryQuiet {
		n.log.Info("daily summary skipped: no attack", "day", day)
		markDone()
		return
	}
	subject, text, html := renderDaily(n.hostname, r)
	n.mu.Lock()
	n.doc.Seq++
	seq := n.doc.Seq
	n.doc.LastDaily, n.dirty = day, true
	n.mu.Unlock()
	n.enqueue(&Mail{ID: mailID(seq, kindDaily), Kind: kindDaily, Seq: seq, Day: day, To: recipients(cfg),
		Subject: subject, Text: text, HTML: html, Created: now, NextTry: now})
	n.log.Info("daily summary queued", "day", day, "attacks", r.Attacks)
}

// mailID names an email and its outbox file; the zeros make file names
// sort in sequence order.
func mailID(seq uint64, kind string) string { return fmt.Sprintf("%010d-%s", seq, kind) }

// enqueue puts a rendered email in the outbox: the file first, then the
// state that no longer holds what the email holds, and only then the
// sender may see it (so a delivery never precedes that state).
func (n *Notifier) enqueue(m *Mail) {
	if err := writeMail(n.dir, m); err != nil {
		n.log.Error("email kept in memory only: lost on restart", "err", err)
	}
	n.save()
	n.mu.Lock()
	n.outbox = append(n.outbox, m)
	n.mu.Unlock()
	signal(n.wakeSend)
}

// save writes state.json, logging a failure: notifications go on from
// memory.
func (n *Notifier) save() {
	n.saveMu.Lock()
	defer n.saveMu.Unlock()
	n.mu.Lock()
	doc := n.doc
	doc.Version = 1
	doc.Batch = n.doc.Batch.clone()
	doc.Status = n.statusLocked()
	doc.Saved = n.clock.Now()
	n.dirty = false
	n.lastSave = time.Now()
	n.mu.Unlock()
	if err := writeState(n.dir, &doc); err != nil {
		n.log.Error("notify state not saved", "err", err)
		n.mu.Lock()
		n.dirty = true
		n.mu.Unlock()
	}
}
