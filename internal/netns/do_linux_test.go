//go:build linux

package netns

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// inode identifies a namespace: two files of one namespace share it.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// fresh returns a file of a new, empty network namespace and the thread
// that made it, which stays there: it ends with its goroutine (or, the
// main thread, is wedged).
func fresh(t *testing.T) (*os.File, int) {
	t.Helper()
	type result struct {
		f   *os.File
		tid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: err}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		done <- result{f, unix.Gettid(), err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.f.Close() })
	return r.f, r.tid
}

func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (setns)")
	}
	ns, maker := fresh(t)
	var st unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	want := st.Ino
	if want == inode(t, "/proc/thread-self/ns/net") {
		t.Fatal("the fresh namespace is this one")
	}
	errFn := errors.New("fn failed")
	for range 20 {
		var got uint64
		err := Do(int(ns.Fd()), func() error {
			got = inode(t, "/proc/thread-self/ns/net")
			return errFn
		})
		if !errors.Is(err, errFn) {
			t.Fatalf("Do returned %v, want fn's error", err)
		}
		if got != want {
			t.Fatalf("fn ran in namespace %d, want %d", got, want)
		}
	}
	// Every thread Do moved came back.
	threads, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range threads {
		var st unix.Stat_t
		if th.Name() != strconv.Itoa(maker) && unix.Stat("/proc/self/task/"+th.Name()+"/ns/net", &st) == nil && st.Ino == want {
			t.Errorf("thread %s is still in the namespace after Do returned", th.Name())
		}
	}
}

func TestDoNotANamespace(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ran := false
	if err := Do(int(f.Fd()), func() error { ran = true; return nil }); err == nil {
		t.Fatal("Do into /dev/null succeeded")
	}
	if ran {
		t.Fatal("fn ran although the thread could not enter the namespace")
	}
}

func TestDoNamedMissing(t *testing.T) {
	if err := DoNamed("sp-n-missing", func() error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DoNamed of a missing namespace: %v, want ErrNotExist", err)
	}
}
