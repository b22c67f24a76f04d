package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/daemon"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
	"github.com/sipprot/sipprot/store"
)

// liveDaemon is the real daemon run in the test process, with queues and
// a firewall that do nothing: the CLI talks to it over its socket as it
// would in production, and the test feeds the engine packets.
type liveDaemon struct {
	t      *testing.T
	engine *policy.Engine
	cancel context.CancelFunc
	done   chan error
}

type idleQueues struct{}

func (idleQueues) Open() error                     { return nil }
func (idleQueues) Serve(ctx context.Context) error { <-ctx.Done(); return nil }
func (idleQueues) Alive() bool                     { return true }
func (idleQueues) Health() []queue.QueueHealth {
	return []queue.QueueHealth{{Number: 0, Healthy: true}}
}

type idleFirewall struct{}

func (idleFirewall) Install() error { return nil }
func (idleFirewall) Remove() error  { return nil }

func (f *listFixture) startDaemon() *liveDaemon {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &liveDaemon{t: f.t, cancel: cancel, done: make(chan error, 1)}
	engines := make(chan *policy.Engine, 1)
	go func() {
		d.done <- daemon.Run(ctx, daemon.Options{ConfigPath: f.cfg, MustExist: true, Stderr: io.Discard,
			NewQueues: func(_ *conf.Config, e *policy.Engine, _ *slog.Logger) (daemon.Queues, error) {
				engines <- e
				return idleQueues{}, nil
			},
			NewFirewall: func(*conf.Config) (daemon.Firewall, error) { return idleFirewall{}, nil },
		})
	}()
	select {
	case d.engine = <-engines:
	case err := <-d.done:
		f.t.Fatalf("daemon: %v", err)
	}
	c := control.NewClient(f.path("sipprot.sock"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Get(context.Background(), control.PathStatus, nil, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, control.ErrNoDaemon) || time.Now().After(deadline) {
			f.t.Fatalf("daemon's socket: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Cleanup(d.stop)
	return d
}

func (d *liveDaemon) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	if err := <-d.done; err != nil {
		d.t.Errorf("daemon: %v", err)
	}
}

// scan sends the daemon one OPTIONS from src with User-Agent ua and
// returns the verdict; a scanner's is a block.
func (d *liveDaemon) scan(src, ua string) policy.Decision {
	p := &packet.Parsed{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: 5060, DstPort: 5060,
		Proto: packet.UDP, Payload: []byte("OPTIONS sip:203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP " + src + ";branch=z9hG4bK1\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: " + ua + "\r\nContent-Length: 0\r\n\r\n")}
	return d.engine.Decide(p)
}

// waitBlocks waits until the daemon's block list (as the CLI sees it)
// has n entries with their User-Agents: the engine holds the block at
// once, the User-Agent arrives with the block event a moment later.
func (d *liveDaemon) waitBlocks(f *listFixture, n int) {
	d.t.Helper()
	c := control.NewClient(f.path("sipprot.sock"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []store.BlockJSON
		if err := c.Get(context.Background(), control.PathBlocks, nil, &got); err == nil && len(got) == n &&
			!slices.ContainsFunc(got, func(b store.BlockJSON) bool { return b.UserAgent == "" }) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon never had %d blocks", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	timesRE = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
	pidRE   = regexp.MustCompile(`pid \d+`)
)

// stable replaces the times and pid of a live daemon's output.
func stable(s string) string {
	return pidRE.ReplaceAllString(timesRE.ReplaceAllString(s, "TIME"), "pid PID")
}

func TestLiveDaemonGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", "# office\n192.0.2.0/24 office\n")
	d := f.startDaemon()
	for _, src := range []string{"198.51.100.66", "2001:db8::66", "198.51.100.67"} {
		if v := d.scan(src, "friendly-scanner"); v.Reason != policy.ReasonUserAgent {
			t.Fatalf("%s: %v", src, v)
		}
	}
	d.waitBlocks(f, 3)
	f.run("status", "--dynamic")
	f.run("check", "198.51.100.66")
	f.run("unblock", "198.51.100.66", "198.51.100.5")
	f.run("unblock", "bad", "198.51.100.67")
	if v := d.scan("198.51.100.66", "Yealink"); v.Verdict != policy.Accept {
		t.Fatalf("after unblock: %v", v)
	}
	f.run("deny", "add", "203.0.113.9", "--note", "seen in the logs")
	if v := d.scan("203.0.113.9", "Yealink"); v.Reason != policy.ReasonDeny {
		t.Fatalf("deny add not in force when the command returned: %v", v)
	}
	f.run("allow", "add", "2001:db8::/64", "--note", "lab")
	if v := d.scan("2001:db8::66", "friendly-scanner"); v.Reason != policy.ReasonAllow {
		t.Fatalf("allow add not in force when the command returned: %v", v)
	}
	f.run("status")
	d.stop()
	f.run("unblock", "198.51.100.67")
	f.run("unblock", "198.51.100.67")
	f.filter = stable
	f.golden("live")
}

// Concurrent CLI processes edit both lists while the daemon reloads them
// (each edit asks it to, its watcher sees every rename, and config
// reloads run meanwhile): every edit lands in the file, the daemon ends
// with exactly the files' lists, and no reload saw a half-written file.
func TestListConcurrentEditsWithDaemon(t *testing.T) {
	bin := buildCLI(t)
	f := newListFixture(t)
	f.write("allowlist", "# shared\n")
	d := f.startDaemon()
	stop := make(chan struct{})
	reloads := make(chan int)
	go func() { // config reloads through the API, as a web page save does
		n := 0
		c := control.NewClient(f.path("sipprot.sock"))
		for {
			select {
			case <-stop:
				reloads <- n
				return
			default:
			}
			if err := c.Post(context.Background(), control.PathConfigReload, nil, nil); err != nil {
				t.Errorf("config reload: %v", err)
			}
			n++
		}
	}()
	const procs, each = 6, 12
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			for i := range each {
				list, addr := "allow", fmt.Sprintf("198.51.%d.%d", p, i)
				if p%2 == 1 {
					list, addr = "deny", fmt.Sprintf("203.0.%d.%d", p, i)
				}
				out, err := exec.Command(bin, "--config", f.cfg, list, "add", addr).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "in force in the running daemon") {
					t.Errorf("%s add %s: %v\n%s", list, addr, err, out)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	n := <-reloads
	for p := range procs {
		for i := range each {
			src, want := fmt.Sprintf("198.51.%d.%d", p, i), policy.ReasonAllow
			if p%2 == 1 {
				src, want = fmt.Sprintf("203.0.%d.%d", p, i), policy.ReasonDeny
			}
			if v := d.scan(src, "friendly-scanner"); v.Reason != want {
				t.Errorf("%s: %v, want %v", src, v, want)
			}
		}
	}
	t.Logf("%d list edits by %d processes, %d config reloads meanwhile", procs*each, procs, n)
}
