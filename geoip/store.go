package geoip

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipprot/sipprot/conf"
)

// Config is what a Store needs from the [geoip] section.
type Config struct {
	Database       string        // the database file; also where updates are written
	UpdateURL      string        // "" = no downloads
	UpdateEvery    time.Duration // between downloads
	AccountID      string        // MaxMind basic auth user; "" = none
	LicenseKeyFile string        // holds the basic auth password
}

// ConfigFrom takes the [geoip] section of a loaded config.
func ConfigFrom(g conf.GeoIP) Config {
	return Config{
		Database:       g.Database,
		UpdateURL:      g.UpdateURL,
		UpdateEvery:    g.UpdateEvery.Duration,
		AccountID:      g.AccountID,
		LicenseKeyFile: g.LicenseKeyFile,
	}
}

// Limits bound a download, so a hostile or broken server can neither fill
// the disk nor hang an update.
type Limits struct {
	MaxSize        int64         // bytes, downloaded and decompressed
	ConnectTimeout time.Duration // connect, TLS handshake, and again for the response headers
	StallTimeout   time.Duration // longest wait for the next body bytes
	TotalTimeout   time.Duration // the whole update
}

// DefaultLimits fit every country database published today (GeoLite2
// Country is under 10 MiB) with a wide margin.
var DefaultLimits = Limits{
	MaxSize:        256 << 20,
	ConnectTimeout: 30 * time.Second,
	StallTimeout:   60 * time.Second,
	TotalTimeout:   10 * time.Minute,
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger Run reports through; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithProgress makes downloads report progress on w, meant for a terminal.
func WithProgress(w io.Writer) Option { return func(s *Store) { s.progress = w } }

// WithLimits replaces DefaultLimits; zero fields keep their default.
func WithLimits(l Limits) Option {
	return func(s *Store) {
		if l.MaxSize > 0 {
			s.lim.MaxSize = l.MaxSize
		}
		if l.ConnectTimeout > 0 {
			s.lim.ConnectTimeout = l.ConnectTimeout
		}
		if l.StallTimeout > 0 {
			s.lim.StallTimeout = l.StallTimeout
		}
		if l.TotalTimeout > 0 {
			s.lim.TotalTimeout = l.TotalTimeout
		}
	}
}

// Store holds the country database in use and replaces it on update. Its
// Country method is the policy.CountryLookup the engine is given once: a
// swap is one atomic pointer store, so verdicts never pause and a lookup
// sees either the old database or the new one, never a mix.
type Store struct {
	cfg      Config
	lim      Limits
	log      *slog.Logger
	progress io.Writer
	client   *http.Client
	now      func() time.Time
	poll     time.Duration // how often Run looks for a file replaced by someone else

	cur atomic.Pointer[DB]

	// opMu serializes Load, Reload and Update: one file, one writer.
	opMu sync.Mutex

	// mu guards the status fields, held only briefly so Status never waits
	// for a download.
	mu      sync.Mutex
	stamp   fileStamp // of the file cur was read from
	source  string    // where cur came from
	loadErr error     // why the file could not be used, nil if it could
	state   state     // persisted update state (the sidecar file)
	next    time.Time // next update Run plans; zero when Run is not running
}

// NewStore returns a Store without a database; Load reads cfg.Database.
func NewStore(cfg Config, opts ...Option) *Store {
	s := &Store{
		cfg:  cfg,
		lim:  DefaultLimits,
		log:  slog.New(slog.DiscardHandler),
		now:  time.Now,
		poll: time.Minute,
	}
	for _, o := range opts {
		o(s)
	}
	s.client = newHTTPClient(s.lim)
	return s
}

func newHTTPClient(lim Limits) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: lim.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = lim.ConnectTimeout
	t.ResponseHeaderTimeout = lim.ConnectTimeout
	// The bytes counted against MaxSize and shown as progress are the
	// bytes on the wire; .gz files are unpacked by Update itself.
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// Country returns the country of a from the database in use; false when a
// is unknown or there is no database. It implements policy.CountryLookup.
func (s *Store) Country(a netip.Addr) (string, bool) {
	db := s.cur.Load()
	if db == nil {
		return "", false
	}
	return db.Country(a)
}

// DB returns the database in use, nil if none.
func (s *Store) DB() *DB { return s.cur.Load() }

// Usable reports whether a database is in use, so countries are enforced.
func (s *Store) Usable() bool { return s.cur.Load() != nil }

// fileStamp identifies a version of the database file cheaply.
type fileStamp struct {
	size  int64
	mtime time.Time
}

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{fi.Size(), fi.ModTime()} }

// Load opens the database file. A missing file is not an error: the store
// stays without a database until an update brings one. A file that exists
// but cannot be used is an error; the database in use, if any, stays.
func (s *Store) Load() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	st := readState(s.statePath())
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	if s.cfg.Database == "" {
		return nil
	}
	fi, err := os.Stat(s.cfg.Database)
	if errors.Is(err, fs.ErrNotExist) {
		s.setLoadErr(nil)
		return nil
	}
	var db *DB
	if err == nil {
		db, err = Open(s.cfg.Database)
	}
	if err != nil {
		s.mu.Lock()
		if fi != nil {
			s.stamp = stampOf(fi) // Reload retries only a changed file
		}
		if s.cur.Load() == nil {
			s.loadErr = err
		}
		s.mu.Unlock()
		return fmt.Errorf("geoip: %w", err)
	}
	s.swap(db, stampOf(fi), s.sourceOf(db, st))
	return nil
}

// Reload opens the database file again if it changed since it was read,
// for files replaced by `sipprot geoip update` in another process or by
// MaxMind's geoipupdate. Like an update, it refuses a database older than
// the one in use. It reports whether a new database is now in use.
func (s *Store) Reload() (bool, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.cfg.Database == "" {
		return false, nil
	}
	fi, err := os.Stat(s.cfg.Database)
	if errors.Is(err, fs.ErrNotExist) {
		// A vanished file takes nothing away from the database in memory.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("geoip: %w", err)
	}
	// Each version of the file is tried once: a bad file is reported
	// once, not at every poll.
	stamp := stampOf(fi)
	s.mu.Lock()
	same := stamp == s.stamp
	s.stamp = stamp
	s.mu.Unlock()
	if same {
		return false, nil
	}
	db, err := Open(s.cfg.Database)
	if err != nil {
		if !s.Usable() {
			s.setLoadErr(err)
		}
		return false, fmt.Errorf("geoip: %w", err)
	}
	cur := s.cur.Load()
	if cur != nil && db.info.SHA256 == cur.info.SHA256 {
		return false, nil
	}
	if err := notOlder(db, cur); err != nil {
		return false, fmt.Errorf("geoip: %s: %w", s.cfg.Database, err)
	}
	st := readState(s.statePath())
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	s.swap(db, stampOf(fi), s.sourceOf(db, st))
	return true, nil
}

// sourceOf names where db came from: the URL of the download that wrote
// it, or else the file itself.
func (s *Store) sourceOf(db *DB, st state) string {
	if st.Source != "" && st.SHA256 == db.info.SHA256 {
		return st.Source
	}
	return s.cfg.Database
}

func (s *Store) swap(db *DB, stamp fileStamp, source string) {
	s.mu.Lock()
	s.stamp, s.source, s.loadErr = stamp, source, nil
	s.mu.Unlock()
	s.cur.Store(db)
}

func (s *Store) setLoadErr(err error) {
	s.mu.Lock()
	s.loadErr = err
	s.mu.Unlock()
}

// Warning says why there is no usable database, "" when there is one. The
// daemon logs it when countries are configured, since they are then not
// enforced.
func (s *Store) Warning() string {
	if s.Usable() {
		return ""
	}
	s.mu.Lock()
	loadErr, st := s.loadErr, s.state
	s.mu.Unlock()
	var w string
	switch {
	case s.cfg.Database == "":
		w = "no geoip.database configured"
	case loadErr != nil:
		w = loadErr.Error()
	default:
		w = s.cfg.Database + " does not exist"
	}
	switch {
	case s.cfg.UpdateURL == "":
		w += "; no geoip.update_url to download it from"
	case st.Result == resultFailed:
		w += "; last update failed: " + st.Error
	}
	return w
}
