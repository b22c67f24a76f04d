package geoip

import (
	"context"
	"time"
)

// maxRetry caps the wait after a failed update: with countries configured
// and no database, enforcement starts as soon as the server is back.
const maxRetry = time.Hour

// Run keeps the database current until ctx ends, logging what happens: an
// update every update_every (the first one due update_every after the last
// successful check, or at once without a usable database), retries after a
// failure at 1, 2, 4… minutes up to an hour, and, every minute, a reload
// of the file if another process replaced it. Without an update URL it
// only watches the file. It returns nil when ctx ends.
func (s *Store) Run(ctx context.Context) error {
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	defer s.setNext(time.Time{})
	var updates <-chan time.Time
	var timer *time.Timer
	backoff := time.Minute
	if s.cfg.UpdateURL != "" && s.cfg.UpdateEvery > 0 {
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		next := s.dueAt(st, s.Usable())
		s.setNext(next)
		timer = time.NewTimer(next.Sub(s.now()))
		defer timer.Stop()
		updates = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			switch changed, err := s.Reload(); {
			case err != nil:
				s.log.Warn("geoip database file not reloaded", "err", err)
			case changed:
				s.logInUse("geoip database reloaded")
			}
		case <-updates:
			wait := s.cfg.UpdateEvery
			res, err := s.Update(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				wait = min(backoff, s.cfg.UpdateEvery, maxRetry)
				backoff = min(2*backoff, maxRetry)
				s.log.Warn("geoip update failed; the database in use stays", "err", err, "retry_in", wait.String())
			default:
				backoff = time.Minute
				if res.Outcome == Updated {
					s.logInUse("geoip database updated", "bytes", res.Bytes)
				} else {
					s.log.Debug("geoip database unchanged", "reason", res.Reason)
				}
			}
			s.setNext(s.now().Add(wait))
			timer.Reset(wait)
		}
	}
}

func (s *Store) logInUse(msg string, args ...any) {
	st := s.Status()
	if st.Database == nil {
		return
	}
	s.log.Info(msg, append([]any{"type", st.Database.Type, "build_date", day(st.Database.BuildDate),
		"source", st.Source, "file", st.File}, args...)...)
}

func (s *Store) setNext(t time.Time) {
	s.mu.Lock()
	s.next = t
	s.mu.Unlock()
}
