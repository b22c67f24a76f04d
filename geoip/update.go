package geoip

import (
	"context"
	"errors"
	"fmt"
	"github.com/sipprot/sipprot/atomicfile"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors callers may test for with errors.Is.
var (
	// ErrNoURL: there is no geoip.update_url to update from.
	ErrNoURL = errors.New("no geoip.update_url configured")
	// ErrOlder: the download was built before the database in use.
	ErrOlder = errors.New("older than the database in use")
	// ErrTooLarge: the download, or what it unpacks to, is over Limits.MaxSize.
	ErrTooLarge = errors.New("too large")
	// ErrStalled: the server stopped sending for Limits.StallTimeout.
	ErrStalled = errors.New("download stalled")
	// ErrTimeout: the server did not answer in time, or the whole update
	// took longer than Limits.TotalTimeout.
	ErrTimeout = errors.New("timed out")
)

// Outcome is what a successful update did.
type Outcome int

// The outcomes of an update that did not fail.
const (
	Unchanged Outcome = iota // the database in use is current
	Updated                  // a new database is in use
)

// String returns "unchanged" or "updated".
func (o Outcome) String() string {
	if o == Updated {
		return resultUpdated
	}
	return resultUnchanged
}

// Result tells what an update did.
type Result struct {
	Outcome  Outcome
	Reason   string // why Unchanged
	URL      string // downloaded from, license key removed
	Bytes    int64  // bytes received
	Info     Info   // the database in use now
	Previous *Info  // the one it replaced, nil if there was none
}

// String is one line for the CLI and logs.
func (r Result) String() string {
	if r.Outcome == Unchanged {
		return fmt.Sprintf("unchanged: %s (%s built %s)", r.Reason, r.Info.Type, day(r.Info.BuildDate))
	}
	was := "no database before"
	if r.Previous != nil {
		was = "was built " + day(r.Previous.BuildDate)
	}
	return fmt.Sprintf("updated: %s built %s (%s), %s from %s", r.Info.Type, day(r.Info.BuildDate), was, mib(r.Bytes), r.URL)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Update downloads the database from the update URL and, if it is a usable
// country database no older than the one in use, writes it over the
// database file and puts it in use. On any failure the database in use and
// its file stay as they were, and the error says why.
//
// A download unchanged since the last one is skipped through ETag and
// If-Modified-Since.
func (s *Store) Update(ctx context.Context) (Result, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	start := s.now()
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()

	res, v, err := s.update(ctx, st)

	st.AttemptAt, st.Error = start, ""
	if err != nil {
		st.Result, st.Error = resultFailed, err.Error()
	} else {
		st.Result, st.CheckedAt = res.Outcome.String(), start
		if v != nil {
			st.URL, st.ETag, st.LastModified = res.URL, v.etag, v.lastModified
			st.SHA256, st.Source = res.Info.SHA256, v.source
		}
	}
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	if p := s.statePath(); p != "" {
		// Best effort: without it the next update downloads in full and
		// status shows less, nothing more.
		if werr := writeState(p, st); werr != nil {
			s.log.Debug("geoip: cannot save update state", "file", p, "err", werr)
		}
	}
	return res, err
}

// validators are what a successful response leaves for the next request.
type validators struct {
	etag, lastModified, source string
}

func (s *Store) update(ctx context.Context, st state) (Result, *validators, error) {
	if s.cfg.UpdateURL == "" {
		return Result{}, nil, ErrNoURL
	}
	if s.cfg.Database == "" {
		return Result{}, nil, errors.New("no geoip.database to write to")
	}
	shown := redact(s.cfg.UpdateURL)
	res := Result{URL: shown}
	fail := func(err error) (Result, *validators, error) {
		return res, nil, fmt.Errorf("update from %s: %w", shown, err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.lim.TotalTimeout)
	defer cancel()
	ctx, stall := context.WithCancelCause(ctx)
	defer stall(nil)
	req, err := s.newRequest(ctx)
	if err != nil {
		return fail(err)
	}
	cur := s.cur.Load()
	if cur != nil {
		info := cur.Info()
		res.Previous, res.Info = &info, info
		// Validators name a file; they hold only while that file is the
		// one in use and came from this URL.
		if st.URL == shown && st.SHA256 == info.SHA256 {
			if st.ETag != "" {
				req.Header.Set("If-None-Match", st.ETag)
			}
			if st.LastModified != "" {
				req.Header.Set("If-Modified-Since", st.LastModified)
			}
		}
	}

	resp, err := s.client.Do(req)
	if err != nil {
		return fail(s.why(ctx, err))
	}
	defer resp.Body.Close()
	v := &validators{resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), shown}
	switch {
	case resp.StatusCode == http.StatusNotModified && cur != nil:
		res.Reason = "not modified since the last download"
		// A 304 keeps the old validators unless it sent new ones.
		v.etag, v.lastModified = firstNonEmpty(v.etag, st.ETag), firstNonEmpty(v.lastModified, st.LastModified)
		v.source = firstNonEmpty(st.Source, shown)
		return res, v, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fail(fmt.Errorf("server answered %s; check geoip.account_id and the license key", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Errorf("server answered %s", resp.Status))
	}

	if resp.ContentLength > s.lim.MaxSize {
		return fail(fmt.Errorf("download %w: %s, over %s", ErrTooLarge, mib(resp.ContentLength), mib(s.lim.MaxSize)))
	}
	tmp, n, err := s.download(resp, stall)
	res.Bytes = n
	if err != nil {
		return fail(s.why(ctx, err))
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	b, err := os.ReadFile(tmp)
	if err != nil {
		return fail(err)
	}
	db, err := OpenBytes(b)
	if err != nil {
		return fail(fmt.Errorf("downloaded file: %w", err))
	}
	if cur != nil && db.info.SHA256 == cur.info.SHA256 {
		res.Reason = "same database as the one in use"
		return res, v, nil
	}
	if err := notOlder(db, cur); err != nil {
		return fail(fmt.Errorf("downloaded database: %w", err))
	}
	if err := os.Rename(tmp, s.cfg.Database); err != nil {
		return fail(fmt.Errorf("install: %w", err))
	}
	renamed = true
	if err := atomicfile.SyncDir(filepath.Dir(s.cfg.Database)); err != nil {
		return fail(fmt.Errorf("install: %w", err))
	}
	var stamp fileStamp
	if fi, err := os.Stat(s.cfg.Database); err == nil {
		stamp = stampOf(fi)
	}
	s.swap(db, stamp, shown)
	res.Outcome, res.Info = Updated, db.Info()
	return res, v, nil
}

func (s *Store) newRequest(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.UpdateURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "sipprot-geoip")
	if s.cfg.AccountID == "" {
		return req, nil
	}
	// MaxMind's download API takes the account and license key as HTTP
	// basic auth; Go drops the header when a redirect leaves the host.
	if req.URL.Scheme != "https" && !isLoopback(req.URL.Hostname()) {
		return nil, errors.New("refusing to send the license key over plain http; use an https update_url")
	}
	key, err := os.ReadFile(s.cfg.LicenseKeyFile)
	if err != nil {
		return nil, fmt.Errorf("license key: %w", err)
	}
	k := strings.TrimSpace(string(key))
	if k == "" {
		return nil, fmt.Errorf("license key: %s is empty", s.cfg.LicenseKeyFile)
	}
	req.SetBasicAuth(s.cfg.AccountID, k)
	return req, nil
}

// notOlder refuses a database built before the one in use: a stale mirror
// must not roll the country data back.
func notOlder(db, cur *DB) error {
	if cur != nil && db.info.BuildDate.Before(cur.info.BuildDate) {
		return fmt.Errorf("%w: built %s, the one in use %s", ErrOlder,
			db.info.BuildDate.Format(time.RFC3339), cur.info.BuildDate.Format(time.RFC3339))
	}
	return nil
}

// why says which limit ran out, instead of a bare "context canceled" or
// a transport error repeating the URL.
func (s *Store) why(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrStalled):
		return fmt.Errorf("%w: no data for %s", ErrStalled, s.lim.StallTimeout)
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w: the update took over %s", ErrTimeout, s.lim.TotalTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%w: no answer within %s", ErrTimeout, s.lim.ConnectTimeout)
		}
		return ue.Err
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// redact removes secrets from a URL before it is shown or stored: a
// password and MaxMind's legacy license_key query parameter.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("license_key") {
		q.Set("license_key", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
