package fleet

import (
	"context"
	"sync"
	"testing"

	"github.com/sipprot/sipprot/fleet/lapitest"
)

// The tests run a real CrowdSec LAPI (lapitest); without one they skip.

const (
	testMachine  = "pbx1"
	testPassword = "pbx1-S3cret-pw-0123456789"
	testAPIKey   = "bouncer-K3y-0123456789abcdef"
)

// lapi is a started LAPI with the test machine and bouncer registered.
type lapi struct {
	*lapitest.LAPI
	url string
}

func startLAPI(t testing.TB) *lapi {
	t.Helper()
	l := lapitest.New(t)
	l.AddMachine(testMachine, testPassword)
	l.AddBouncer("sipprot-test", testAPIKey)
	l.Start()
	return &lapi{LAPI: l, url: l.URL}
}

func (l *lapi) addMachine(id, password string) { l.AddMachine(id, password) }
func (l *lapi) cscli(args ...string) []byte    { return l.Cscli(args...) }
func (l *lapi) start()                         { l.Start() }
func (l *lapi) stop()                          { l.Stop() }
func (l *lapi) lapiLog() string                { return l.Log() }
func (l *lapi) decisions(args ...string) []lapitest.Alert {
	return l.Decisions(args...)
}

// runClient starts c.Run and stops it at cleanup.
func runClient(t testing.TB, c *Client) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
