// Package daemontest runs the real daemon inside a test process, with
// queues and a firewall that do nothing: tests talk to it over its control
// socket, as the CLI and the web page do, and feed its engine packets.
package daemontest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/daemon"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
	"github.com/sipprot/sipprot/savedblocks"
)

// Daemon is one daemon.Run in the test process.
type Daemon struct {
	// Engine is the daemon's engine: what its queues would feed.
	Engine *policy.Engine
	// Client talks to its control socket.
	Client *control.Client
	t      testing.TB
	cancel context.CancelFunc
	done   chan error
}

type idleQueues struct{}

func (idleQueues) Open() error                     { return nil }
func (idleQueues) Serve(ctx context.Context) error { <-ctx.Done(); return nil }
func (idleQueues) Alive() bool                     { return true }
func (idleQueues) Health() []queue.QueueHealth {
	return []queue.QueueHealth{{Number: 0, Healthy: true, Running: true}}
}

type idleFirewall struct{}

func (idleFirewall) Install() error { return nil }
func (idleFirewall) Remove() error  { return nil }

// Start runs the daemon with the config file at cfgPath (which must set
// admin.socket to a test path) and returns once its control socket
// answers. It is stopped when the test ends, or by Stop.
func Start(t testing.TB, cfgPath string) *Daemon {
	t.Helper()
	c, err := conf.Load(cfgPath, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{t: t, cancel: cancel, done: make(chan error, 1), Client: control.NewClient(c.Admin.Socket)}
	engines := make(chan *policy.Engine, 1)
	go func() {
		d.done <- daemon.Run(ctx, daemon.Options{ConfigPath: cfgPath, MustExist: true, Stderr: io.Discard,
			NewQueues: func(_ *conf.Config, e *policy.Engine, _ *slog.Logger) (daemon.Queues, error) {
				engines <- e
				return idleQueues{}, nil
			},
			NewFirewall: func(*conf.Config) (daemon.Firewall, error) { return idleFirewall{}, nil },
		})
	}()
	select {
	case d.Engine = <-engines:
	case err := <-d.done:
		t.Fatalf("daemon: %v", err)
	}
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := d.Client.Get(context.Background(), control.PathStatus, nil, nil)
		if err == nil {
			return d
		}
		if !errors.Is(err, control.ErrNoDaemon) || time.Now().After(deadline) {
			t.Fatalf("daemon's socket: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the daemon (it saves its state and removes its socket); a
// second call does nothing.
func (d *Daemon) Stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	if err := <-d.done; err != nil {
		d.t.Errorf("daemon: %v", err)
	}
}

// Scan sends the engine one OPTIONS from src with User-Agent ua and
// returns the verdict; a scanner's is a block.
func (d *Daemon) Scan(src, ua string) policy.Decision {
	p := &packet.Parsed{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: 5060, DstPort: 5060,
		Proto: packet.UDP, Payload: []byte("OPTIONS sip:203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP " + src + ";branch=z9hG4bK1\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: " + ua + "\r\nContent-Length: 0\r\n\r\n")}
	return d.Engine.Decide(p)
}

// WaitBlocks waits until the daemon's block list, as its socket serves
// it, has n entries with their User-Agents: the engine holds a block at
// once, its User-Agent arrives with the block event a moment later.
func (d *Daemon) WaitBlocks(n int) {
	d.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []savedblocks.JSON
		if err := d.Client.Get(context.Background(), control.PathBlocks, nil, &got); err == nil && len(got) == n &&
			!slices.ContainsFunc(got, func(b savedblocks.JSON) bool { return b.UserAgent == "" }) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon never had %d blocks", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
