//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// proc is a background process started inside a namespace, its stdout and
// stderr going to a log file.
type proc struct {
	name string // for messages
	log  string // path of the output file
	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex
	err error // the exit status, once done is closed
}

// procOpts are optional settings for startProc.
type procOpts struct {
	dir string   // working directory ("" = the log file's directory)
	env []string // extra environment variables (KEY=VALUE)
}

// startProc starts args inside ns in the background, output to logPath.
// "ip netns exec" execs the command, so the process is the command itself.
// The process is stopped (TERM, then KILL) when the test ends if it is
// still running.
func startProc(t *testing.T, ns netnstest.NS, name, logPath string, o procOpts, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := ns.Command(args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = o.dir
	if cmd.Dir == "" {
		cmd.Dir = dirOf(logPath)
	}
	cmd.Env = append(os.Environ(), o.env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// dirOf returns the directory part of a path.
func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitErr returns the process' exit error (nil for status 0); only
// meaningful once it has exited.
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait waits up to timeout for the process to exit by itself and returns
// its exit error; after the timeout it stops the process and returns an
// error saying so.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(timeout):
		p.stop(3 * time.Second)
		return fmt.Errorf("%s still running after %v, stopped", p.name, timeout)
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// stop sends SIGTERM, waits up to grace for the exit, then SIGKILL; it
// returns the exit error.
func (p *proc) stop(grace time.Duration) error {
	if !p.running() {
		return p.exitErr()
	}
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.signal(syscall.SIGKILL)
		<-p.done
	}
	return p.exitErr()
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	if p.running() {
		_ = p.signal(syscall.SIGKILL)
	}
	<-p.done
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\t" + strings.Join(lines, "\n\t")
}
