package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// supervisor runs the daemon's long-running goroutines. Stopping waits for
// every one of them, and one that ends with an error is logged and kept
// for the status, so a web page or control socket that cannot serve is
// never silently gone. Only the queues stop the daemon (through their own
// channel in the loop): the rest are worth less than protection.
type supervisor struct {
	g   errgroup.Group
	log *slog.Logger

	mu     sync.Mutex
	failed map[string]string   // service -> why it stopped serving
	names  map[string]struct{} // every service started or failed
}

func newSupervisor(log *slog.Logger) *supervisor {
	return &supervisor{log: log, failed: map[string]string{}, names: map[string]struct{}{}}
}

// Go runs fn as the named service. A service started again under the same
// name (after a reload) clears its failure.
func (s *supervisor) Go(name string, fn func() error) {
	s.mu.Lock()
	delete(s.failed, name)
	s.names[name] = struct{}{}
	s.mu.Unlock()
	s.g.Go(func() error {
		if err := fn(); err != nil {
			s.fail(name, err)
		}
		return nil // a failure is recorded, never a reason to stop the others
	})
}

// fail records that name stopped serving, or could not start.
func (s *supervisor) fail(name string, err error) {
	s.log.Error("service stopped", "service", name, "err", err)
	s.mu.Lock()
	s.failed[name] = err.Error()
	s.names[name] = struct{}{}
	s.mu.Unlock()
}

// Services returns the name of every service started or failed, sorted.
func (s *supervisor) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.names))
}

// Failed returns the services that failed and why; nil when none did.
func (s *supervisor) Failed() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failed) == 0 {
		return nil
	}
	return maps.Clone(s.failed)
}

// Wait waits for every service to return.
func (s *supervisor) Wait() { s.g.Wait() }

// serveHTTP serves srv on l until it is shut down; any other end is a
// failure of the service.
func serveHTTP(srv *http.Server, l net.Listener) error {
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	}
	return nil
}
