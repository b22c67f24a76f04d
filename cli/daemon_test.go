package cli

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/daemon/daemontest"
	"github.com/sipprot/sipprot/policy"
)

// startDaemon runs the real daemon on the fixture's config in this
// process (daemontest): the CLI talks to it over its socket as it would
// in production, and the test feeds its engine packets.
func (f *listFixture) startDaemon() *daemontest.Daemon {
	f.t.Helper()
	return daemontest.Start(f.t, f.cfg)
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
		if v := d.Scan(src, "friendly-scanner"); v.Reason != policy.ReasonUserAgent {
			t.Fatalf("%s: %v", src, v)
		}
	}
	d.WaitBlocks(3)
	f.run("status", "--dynamic")
	f.run("check", "198.51.100.66")
	f.run("unblock", "198.51.100.66", "198.51.100.5")
	f.run("unblock", "bad", "198.51.100.67")
	if v := d.Scan("198.51.100.66", "Yealink"); v.Verdict != policy.Accept {
		t.Fatalf("after unblock: %v", v)
	}
	f.run("deny", "add", "203.0.113.9", "--note", "seen in the logs")
	if v := d.Scan("203.0.113.9", "Yealink"); v.Reason != policy.ReasonDeny {
		t.Fatalf("deny add not in force when the command returned: %v", v)
	}
	f.run("allow", "add", "2001:db8::/64", "--note", "lab")
	if v := d.Scan("2001:db8::66", "friendly-scanner"); v.Reason != policy.ReasonAllow {
		t.Fatalf("allow add not in force when the command returned: %v", v)
	}
	f.run("status")
	d.Stop()
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
			if v := d.Scan(src, "friendly-scanner"); v.Reason != want {
				t.Errorf("%s: %v, want %v", src, v, want)
			}
		}
	}
	t.Logf("%d list edits by %d processes, %d config reloads meanwhile", procs*each, procs, n)
}
