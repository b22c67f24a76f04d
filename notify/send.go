package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"slices"
	"time"
)

// The sender delivers the outbox oldest first. A failed delivery pauses
// the whole outbox (the server is likely down) for a wait that doubles
// with each consecutive failure, and the failed email itself waits by its
// own count of failures, so one email the server keeps refusing does not
// hold back the others.

func (n *Notifier) sendLoop(ctx context.Context) {
	var tm timer
	for {
		n.deliverDue(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wakeSend:
		case <-tm.wait(n.clock, n.nextSend(n.clock.Now())):
		}
	}
}

// nextSend is when an email is due next, at most tickMax away.
func (n *Notifier) nextSend(now time.Time) time.Time {
	next := now.Add(tickMax)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cfg.SMTP.Host == "" {
		return next // nothing can go before a reload
	}
	for _, m := range n.outbox {
		if t := later(m.NextTry, n.pauseUntil); t.Before(next) {
			next = t
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deliverDue sends every email that is due, until one fails.
func (n *Notifier) deliverDue(ctx context.Context) {
	now := n.clock.Now()
	n.mu.Lock()
	cfg := n.cfg
	var due []*Mail
	if !now.Before(n.pauseUntil) {
		for _, m := range n.outbox {
			if !now.Before(m.NextTry) {
				due = append(due, m)
			}
		}
	}
	n.mu.Unlock()
	if len(due) == 0 || cfg.SMTP.Host == "" {
		return // without a server the outbox waits for a config that has one
	}
	// A session in progress when ctx ends gets a grace period: cut while
	// the server confirms, its email would be sent again on the next start.
	sessCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(n.grace, cancel) })
	defer stopGrace()
	mailer := NewMailer(cfg.SMTP, n.tls, n.hostname)
	for _, m := range due {
		if ctx.Err() != nil {
			return
		}
		if now.Sub(m.Created) > n.maxAge {
			n.giveUp(m, now)
			continue
		}
		reply, err := mailer.Send(sessCtx, m)
		now = n.clock.Now()
		switch {
		case err == nil:
			n.delivered(m, reply, now)
		case ctx.Err() != nil:
			return // cut by shutdown: not the server's failure; sent on the next start
		default:
			n.failed(m, err, now)
			return
		}
	}
}

func (n *Notifier) delivered(m *Mail, reply string, now time.Time) {
	if err := removeMail(n.dir, m); err != nil {
		n.log.Error("sent email still in the outbox: it will be sent again after a restart", "err", err)
	}
	n.mu.Lock()
	n.dropLocked(m)
	n.failures, n.pauseUntil = 0, time.Time{}
	n.doc.Status.LastDelivery, n.doc.Status.LastOK, n.doc.Status.LastResult, n.doc.Status.LastSubject = now, true, reply, m.Subject
	n.mu.Unlock()
	n.save()
	n.log.Info("email sent", "subject", m.Subject, "to", len(m.To), "reply", reply)
}

func (n *Notifier) failed(m *Mail, err error, now time.Time) {
	n.mu.Lock()
	m.Attempts++
	m.LastError = err.Error()
	m.NextTry = now.Add(n.backoff(m.Attempts))
	n.failures++
	n.pauseUntil = now.Add(n.backoff(n.failures))
	n.doc.Status.LastDelivery, n.doc.Status.LastOK, n.doc.Status.LastResult, n.doc.Status.LastSubject = now, false, err.Error(), m.Subject
	next := later(m.NextTry, n.pauseUntil)
	saved := *m
	n.mu.Unlock()
	if werr := writeMail(n.dir, &saved); werr != nil {
		n.log.Error("email's retry count not saved", "err", werr)
	}
	n.save()
	n.log.Warn("email not delivered; will retry", "subject", m.Subject, "attempt", saved.Attempts, "next_try", next, "err", err)
}

func (n *Notifier) giveUp(m *Mail, now time.Time) {
	if err := removeMail(n.dir, m); err != nil {
		n.log.Error("expired email still in the outbox", "err", err)
	}
	n.mu.Lock()
	n.dropLocked(m)
	n.doc.Status.LastDelivery, n.doc.Status.LastOK = now, false
	n.doc.Status.LastResult = fmt.Sprintf("gave up after %d attempts over %s: %s", m.Attempts, durationText(n.maxAge), m.LastError)
	n.doc.Status.LastSubject = m.Subject
	n.mu.Unlock()
	n.save()
	n.log.Error("email given up", "subject", m.Subject, "attempts", m.Attempts, "created", m.Created, "last_err", m.LastError)
}

func (n *Notifier) dropLocked(m *Mail) {
	n.outbox = slices.DeleteFunc(n.outbox, func(o *Mail) bool { return o == m })
}

// backoff is the wait after the nth consecutive failure.
func (n *Notifier) backoff(failures int) time.Duration {
	d := n.retryMin
	for i := 1; i < failures && d < n.retryMax; i++ {
		d *= 2
	}
	return min(d, n.retryMax)
}

func readMail(path string) (*Mail, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Mail
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.ID == "" || len(m.To) == 0 {
		return nil, fmt.Errorf("%s: no id or no recipient", path)
	}
	return &m, nil
}

// parseAddress returns the bare address of an RFC 5322 address, with or
// without a display name.
func parseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// SendTest sends a test email now, through cfg's [smtp] settings, to the
// addresses to (notify.recipients if none), and returns the server's
// answer. It does not touch the outbox: the operator sees the result.
func SendTest(ctx context.Context, cfg *Settings, to []string, opts ...Option) (string, error) {
	s := newSettings(opts)
	if cfg.SMTP.Host == "" {
		return "", ErrNoSMTPHost
	}
	if len(to) == 0 {
		to = recipients(cfg)
	}
	if len(to) == 0 {
		return "", ErrNoRecipients
	}
	now := s.clock.Now()
	subject, text := renderTest(s.hostname, cfg.SMTP.Addr(), now.In(s.loc))
	m := &Mail{ID: fmt.Sprintf("test-%d", now.UnixNano()), Kind: kindTest, To: to, Subject: subject, Text: text, Created: now}
	return NewMailer(cfg.SMTP, s.tls, s.hostname).Send(ctx, m)
}
