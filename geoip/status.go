package geoip

import (
	"os"
	"strings"
	"time"
)

// Status is a snapshot of the store for `sipprot geoip status`, the
// daemon's status file and logs. Its JSON keys are part of the CLI's
// stable output.
type Status struct {
	Usable      bool      `json:"usable"`
	File        string    `json:"file"`               // geoip.database
	Database    *Info     `json:"database,omitempty"` // the database in use
	Source      string    `json:"source,omitempty"`   // URL or file it came from
	Problem     string    `json:"problem,omitempty"`  // Warning, when not usable
	UpdateURL   string    `json:"update_url,omitempty"`
	UpdateEvery string    `json:"update_every,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"` // updated, unchanged or failed
	LastError   string    `json:"last_error,omitempty"`
	LastChecked time.Time `json:"last_checked,omitzero"` // last successful update or check
	NextUpdate  time.Time `json:"next_update,omitzero"`
}

// Status returns the store's state. NextUpdate is the one Run plans; in
// another process it is computed as the last successful check (or the
// file's mtime) plus update_every, and never earlier than now.
func (s *Store) Status() Status {
	db := s.cur.Load()
	s.mu.Lock()
	st, source, next := s.state, s.source, s.next
	s.mu.Unlock()
	out := Status{
		Usable:      db != nil,
		File:        s.cfg.Database,
		Problem:     s.Warning(),
		UpdateURL:   redact(s.cfg.UpdateURL),
		LastAttempt: st.AttemptAt,
		LastResult:  st.Result,
		LastError:   st.Error,
		LastChecked: st.CheckedAt,
	}
	if db != nil {
		info := db.Info()
		out.Database, out.Source = &info, source
	}
	if s.cfg.UpdateURL != "" {
		out.UpdateEvery = shortDuration(s.cfg.UpdateEvery)
		out.NextUpdate = next
		if next.IsZero() {
			out.NextUpdate = s.dueAt(st, db != nil)
		}
	}
	return out
}

// dueAt is when the next update is due from what is on disk: update_every
// after the last successful check, or after the file was written; now if
// that has passed or there is no usable database.
func (s *Store) dueAt(st state, usable bool) time.Time {
	now := s.now()
	if !usable {
		return now
	}
	base := st.CheckedAt
	if base.IsZero() {
		fi, err := os.Stat(s.cfg.Database)
		if err != nil {
			return now
		}
		base = fi.ModTime()
	}
	if due := base.Add(s.cfg.UpdateEvery); due.After(now) {
		return due
	}
	return now
}

// shortDuration spells d as the config does: "24h", not "24h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
