package geoip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/geoip/geoiptest"
	"github.com/sipprot/sipprot/internal/testutil"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name        string
		file        []byte // nil: no file
		url         string
		wantErr     string
		wantUsable  bool
		wantWarning string
	}{
		{"good", countryDB(t, "FR", jan), "", "", true, ""},
		{"missing, no url", nil, "", "", false, "country.mmdb does not exist; no geoip.update_url to download it from"},
		{"missing, with url", nil, "https://geo.example.com/db", "", false, "country.mmdb does not exist"},
		{"corrupt", []byte("not a database"), "", "not a MaxMind database", false, "not a MaxMind database"},
		{"empty", []byte{}, "", "not a MaxMind database", false, "not a MaxMind database"},
		{"asn", geoiptest.MustBytes(t, geoiptest.DB{Layout: geoiptest.ASN, Networks: geoiptest.Nets("192.0.2.0/24=Example")}),
			"", "holds no country data", false, `database type "GeoLite2-ASN" holds no country data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "country.mmdb")
			if tt.file != nil {
				os.WriteFile(path, tt.file, 0o644)
			}
			s := NewStore(Config{Database: path, UpdateURL: tt.url, UpdateEvery: time.Hour})
			err := s.Load()
			if (err != nil) != (tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load = %v, want error %q", err, tt.wantErr)
			}
			if s.Usable() != tt.wantUsable || (s.DB() != nil) != tt.wantUsable {
				t.Errorf("Usable = %v, want %v", s.Usable(), tt.wantUsable)
			}
			if w := s.Warning(); (w == "") != (tt.wantWarning == "") || !strings.Contains(w, tt.wantWarning) {
				t.Errorf("Warning = %q, want %q", w, tt.wantWarning)
			}
			if !tt.wantUsable {
				wantCountry(t, s, "")
			}
		})
	}
}

func TestNoDatabaseConfigured(t *testing.T) {
	s := NewStore(Config{})
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if w := s.Warning(); !strings.Contains(w, "no geoip.database configured") {
		t.Errorf("Warning = %q", w)
	}
	if c, ok := s.Country(probeV4); ok {
		t.Errorf("Country = %q without a database", c)
	}
}

func TestReload(t *testing.T) {
	s := newStore(t, "", countryDB(t, "FR", jan))
	write := func(b []byte, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(s.cfg.Database, b, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(s.cfg.Database, mtime, mtime)
	}
	base := time.Now().Add(-time.Hour)
	steps := []struct {
		name        string
		write       []byte // nil: leave the file
		wantChanged bool
		wantErr     error
		wantCountry string
	}{
		{"untouched", nil, false, nil, "FR"},
		{"newer", countryDB(t, "DE", feb), true, nil, "DE"},
		{"older refused", countryDB(t, "IT", dec), false, ErrOlder, "DE"},
		{"refused file not retried", nil, false, nil, "DE"},
		{"corrupt", []byte("garbage"), false, errors.New("not a MaxMind database"), "DE"},
		{"same content rewritten", countryDB(t, "DE", feb), false, nil, "DE"},
		{"newer again", countryDB(t, "ES", feb.Add(time.Hour)), true, nil, "ES"},
	}
	for i, st := range steps {
		if st.write != nil {
			write(st.write, base.Add(time.Duration(i)*time.Minute))
		}
		changed, err := s.Reload()
		switch {
		case st.wantErr == nil && err != nil,
			st.wantErr != nil && (err == nil || !errors.Is(err, st.wantErr) && !strings.Contains(err.Error(), st.wantErr.Error())):
			t.Errorf("%s: Reload error %v, want %v", st.name, err, st.wantErr)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: Reload changed = %v, want %v", st.name, changed, st.wantChanged)
		}
		if got, _ := s.Country(probeV4); got != st.wantCountry {
			t.Errorf("%s: Country = %q, want %q", st.name, got, st.wantCountry)
		}
		if !s.Usable() || s.Warning() != "" {
			t.Errorf("%s: Usable %v, Warning %q", st.name, s.Usable(), s.Warning())
		}
	}
	os.Remove(s.cfg.Database)
	if changed, err := s.Reload(); changed || err != nil || !s.Usable() {
		t.Errorf("after the file vanished: Reload = %v, %v; Usable %v", changed, err, s.Usable())
	}
}

// A file appearing later (written by `sipprot geoip update`) is picked up.
func TestReloadAppears(t *testing.T) {
	s := newStore(t, "", nil)
	if s.Usable() {
		t.Fatal("usable without a file")
	}
	os.WriteFile(s.cfg.Database, countryDB(t, "FR", jan), 0o644)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	wantCountry(t, s, "FR")
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	srv, _ := serve(t, bytesHandler(countryDB(t, "DE", feb)))
	s := newStore(t, srv.URL+"/db.mmdb?license_key=SECRET", countryDB(t, "FR", jan))
	s.now = func() time.Time { return now }

	st := s.Status()
	if !st.Usable || st.Database == nil || st.Database.Type != "GeoLite2-Country" || st.Source != s.cfg.Database ||
		st.UpdateURL != srv.URL+"/db.mmdb?license_key=xxxxx" || st.UpdateEvery != "24h" {
		t.Errorf("status before update %+v", st)
	}
	// The file was written just now (real time), so the next update is
	// update_every after its mtime; never in the past.
	if !st.NextUpdate.After(now) {
		t.Errorf("next update %v, want after %v", st.NextUpdate, now)
	}
	if _, err := s.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = s.Status()
	if st.LastResult != "updated" || !st.LastAttempt.Equal(now) || !st.LastChecked.Equal(now) ||
		!st.NextUpdate.Equal(now.Add(24*time.Hour)) || strings.Contains(st.Source, "SECRET") {
		t.Errorf("status after update %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"usable":true`, `"file":`, `"database":{"type":"GeoLite2-Country","layout":"country.iso_code","build_date":"2026-02-01T00:00:00Z"`,
		`"source":`, `"update_url":`, `"last_attempt":`, `"last_result":"updated"`, `"next_update":`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	if bytes.Contains(b, []byte("SECRET")) || bytes.Contains(b, []byte(`"problem"`)) || bytes.Contains(b, []byte(`"last_error"`)) {
		t.Errorf("JSON %s", b)
	}

	// Without a database the next update is due now.
	s2 := newStore(t, srv.URL, nil)
	s2.now = func() time.Time { return now }
	if st := s2.Status(); st.Usable || !st.NextUpdate.Equal(now) || st.Problem == "" {
		t.Errorf("status without database %+v", st)
	}
	// Without a URL there is no next update.
	s3 := newStore(t, "", countryDB(t, "FR", jan))
	if st := s3.Status(); !st.NextUpdate.IsZero() || st.UpdateEvery != "" {
		t.Errorf("status without url %+v", st)
	}
}

// Lookups keep answering, with no failure and no wait, while updates swap
// databases under them. Run it with -race.
func TestSwapUnderLoad(t *testing.T) {
	const swaps = 30
	var gen atomic.Int32
	dbs := make([][]byte, swaps+1)
	for i := range dbs {
		cc := "FR"
		if i%2 == 1 {
			cc = "DE"
		}
		dbs[i] = countryDB(t, cc, jan.Add(time.Duration(i)*time.Hour))
	}
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(dbs[gen.Load()])
	})
	s := newStore(t, srv.URL, dbs[0])

	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	errs := make(chan error, 8)
	addrs := []netip.Addr{probeV4, probeV6, netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("2001:db8:1::9")}
	for g := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				a := addrs[(g+i)%len(addrs)]
				cc, ok := s.Country(a)
				if !ok || cc != "FR" && cc != "DE" {
					errs <- fmt.Errorf("Country(%s) = %q, %v during a swap", a, cc, ok)
					return
				}
				lookups.Add(1)
			}
		})
	}
	for i := 1; i <= swaps; i++ {
		gen.Store(int32(i))
		res, err := s.Update(context.Background())
		if err != nil || res.Outcome != Updated {
			t.Fatalf("update %d: %v, %v", i, res, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if lookups.Load() < swaps {
		t.Errorf("only %d lookups during %d swaps", lookups.Load(), swaps)
	}
	wantCountry(t, s, "FR") // dbs[30]
}

// Lookups never wait for an update in progress: here one is stuck in its
// download while lookups go on.
func TestLookupsDuringUpdate(t *testing.T) {
	v2 := countryDB(t, "DE", feb)
	started := make(chan struct{})
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(v2[:100])
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	s := newStore(t, srv.URL, countryDB(t, "FR", jan), WithLimits(Limits{StallTimeout: time.Minute}))
	done := make(chan error, 1)
	go func() { _, err := s.Update(context.Background()); done <- err }()
	<-started
	// The download is stuck until the server is closed below, so these
	// lookups finishing at all shows none waits on the update.
	for range 100000 {
		if c, ok := s.Country(probeV4); c != "FR" || !ok {
			t.Fatalf("Country = %q, %v during an update", c, ok)
		}
		s.Usable()
		s.Status()
	}
	select {
	case err := <-done:
		t.Fatalf("the update ended early: %v", err)
	default:
	}
	srv.CloseClientConnections()
	if err := <-done; err == nil {
		t.Error("an update cut off by the server succeeded")
	}
	wantCountry(t, s, "FR")
}

// Run updates at once without a database, then picks up a file replaced
// by another process, and stops with its context.
func TestRun(t *testing.T) {
	srv, _ := serve(t, bytesHandler(countryDB(t, "DE", feb)))
	var logs testutil.LogBuffer
	path := filepath.Join(t.TempDir(), "country.mmdb")
	s := NewStore(Config{Database: path, UpdateURL: srv.URL, UpdateEvery: time.Hour},
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	s.poll = 10 * time.Millisecond
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	testutil.WaitFor(t, 5*time.Second, "first update", func() bool { c, _ := s.Country(probeV4); return c == "DE" })
	// The swap comes first, then Run plans the next update an hour on.
	testutil.WaitFor(t, 5*time.Second, "next update in an hour", func() bool { return s.Status().NextUpdate.After(time.Now().Add(50 * time.Minute)) })
	later := time.Now().Add(time.Minute)
	os.WriteFile(path, countryDB(t, "ES", feb.Add(time.Hour)), 0o644)
	os.Chtimes(path, later, later)
	testutil.WaitFor(t, 5*time.Second, "reload", func() bool { c, _ := s.Country(probeV4); return c == "ES" })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	for _, want := range []string{`msg="geoip database updated" type=GeoLite2-Country build_date=2026-02-01`, `msg="geoip database reloaded"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// A failing update is logged and retried, and the store stays usable.
func TestRunRetries(t *testing.T) {
	var hits atomic.Int32
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	var logs testutil.LogBuffer
	s := newStore(t, srv.URL, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	s.cfg.UpdateEvery = 20 * time.Millisecond // retries wait min(backoff, update_every)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	testutil.WaitFor(t, 5*time.Second, "three attempts", func() bool { return hits.Load() >= 3 })
	cancel()
	<-done
	if !strings.Contains(logs.String(), `msg="geoip update failed; the database in use stays"`) ||
		!strings.Contains(logs.String(), "503 Service Unavailable") {
		t.Errorf("log:\n%s", logs.String())
	}
	if w := s.Warning(); !strings.Contains(w, "last update failed") {
		t.Errorf("Warning = %q", w)
	}
}
