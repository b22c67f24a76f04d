package lists

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type applied struct {
	allow, deny []Entry
	at          time.Time
}

// watchFixture runs Watch on two files in a temporary directory and
// collects what it applies and logs.
type watchFixture struct {
	t                   *testing.T
	allowPath, denyPath string
	applies             chan applied
	mu                  sync.Mutex
	logs                []string
}

func startWatch(t *testing.T, allow, deny string) *watchFixture {
	t.Helper()
	dir := t.TempDir()
	f := &watchFixture{t: t, allowPath: filepath.Join(dir, "allowlist"), denyPath: filepath.Join(dir, "denylist"),
		applies: make(chan applied, 100)}
	os.WriteFile(f.allowPath, []byte(allow), 0o644)
	os.WriteFile(f.denyPath, []byte(deny), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, f.allowPath, f.denyPath,
			func(a, d []Entry) { f.applies <- applied{a, d, time.Now()} },
			func(format string, args ...any) {
				f.mu.Lock()
				f.logs = append(f.logs, fmt.Sprintf(format, args...))
				f.mu.Unlock()
			})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	return f
}

// applyWithin bounds the wait for an apply. It waits on inotify, which a
// test cannot step, so it is generous: the time an edit takes to apply is
// logged, not asserted, here.
const applyWithin = 5 * time.Second

// next waits for the next apply, at most within, and returns it.
func (f *watchFixture) next(within time.Duration) applied {
	f.t.Helper()
	select {
	case a := <-f.applies:
		return a
	case <-time.After(within):
		f.t.Fatalf("nothing applied within %v (logs: %q)", within, f.logged())
		return applied{}
	}
}

// none checks that nothing is applied for a while.
func (f *watchFixture) none(wait time.Duration) {
	f.t.Helper()
	select {
	case a := <-f.applies:
		f.t.Fatalf("unexpected apply: %v", a)
	case <-time.After(wait):
	}
}

func (f *watchFixture) logged() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.logs...)
}

func prefixes(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, FormatPrefix(e.Prefix))
	}
	return strings.Join(s, " ")
}

func TestWatchLists(t *testing.T) {
	f := startWatch(t, "192.0.2.1 phone\n", "203.0.113.0/24\n")
	first := f.next(applyWithin)
	if prefixes(first.allow) != "192.0.2.1" || prefixes(first.deny) != "203.0.113.0/24" {
		t.Fatalf("initial apply %v", first)
	}

	// An edit through Edit (atomic rename) is applied.
	start := time.Now()
	if err := Edit(f.allowPath, func(d *Doc) error { d.Add(Entry{Prefix: mustPrefix("192.0.2.2")}); return nil }); err != nil {
		t.Fatal(err)
	}
	a := f.next(applyWithin)
	t.Logf("Edit to apply: %v", a.at.Sub(start))
	if prefixes(a.allow) != "192.0.2.1 192.0.2.2" || prefixes(a.deny) != "203.0.113.0/24" {
		t.Fatalf("after add: %v", a)
	}

	// A file renamed over the list, as editors and config management do.
	tmp := filepath.Join(filepath.Dir(f.denyPath), "new-deny")
	os.WriteFile(tmp, []byte("203.0.113.0/24\n198.51.100.66 scanner\n"), 0o644)
	start = time.Now()
	if err := os.Rename(tmp, f.denyPath); err != nil {
		t.Fatal(err)
	}
	a = f.next(applyWithin)
	t.Logf("rename to apply: %v", a.at.Sub(start))
	if prefixes(a.deny) != "203.0.113.0/24 198.51.100.66" || prefixes(a.allow) != "192.0.2.1 192.0.2.2" {
		t.Fatalf("after rename: %v", a)
	}

	// A bad file keeps the list in force and says where it is wrong.
	if err := os.WriteFile(f.allowPath, []byte("192.0.2.1\n192.0.2.999 typo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.none(500 * time.Millisecond)
	logs := strings.Join(f.logged(), "\n")
	if !strings.Contains(logs, f.allowPath+`:2: bad address "192.0.2.999" (the allow list in force is kept)`) {
		t.Fatalf("logs %q", logs)
	}

	// While the allow list is bad, a deny change still applies, with the
	// allow list in force.
	Edit(f.denyPath, func(d *Doc) error { d.Remove(mustPrefix("198.51.100.66")); return nil })
	a = f.next(applyWithin)
	if prefixes(a.allow) != "192.0.2.1 192.0.2.2" || prefixes(a.deny) != "203.0.113.0/24" {
		t.Fatalf("deny change during a bad allow list: %v", a)
	}

	// Fixing the file applies it.
	os.WriteFile(f.allowPath, []byte("192.0.2.1\n192.0.2.9 fixed\n"), 0o644)
	a = f.next(applyWithin)
	if prefixes(a.allow) != "192.0.2.1 192.0.2.9" {
		t.Fatalf("after the fix: %v", a)
	}

	// Deleting a list empties it (a missing file is an empty list), and a
	// write that changes nothing applies nothing.
	os.Remove(f.allowPath)
	a = f.next(applyWithin)
	if len(a.allow) != 0 || prefixes(a.deny) != "203.0.113.0/24" {
		t.Fatalf("after delete: %v", a)
	}
	os.WriteFile(f.denyPath, []byte("203.0.113.0/24\n"), 0o644)
	f.none(400 * time.Millisecond)

	// Files next to the lists (the lock files, other files) are ignored.
	os.WriteFile(filepath.Join(filepath.Dir(f.allowPath), "unrelated"), []byte("x"), 0o644)
	f.none(300 * time.Millisecond)
}

// A burst of edits is one reload, not one per event.
func TestWatchListsDebounces(t *testing.T) {
	f := startWatch(t, "", "")
	f.next(applyWithin)
	for i := range 20 {
		Edit(f.allowPath, func(d *Doc) error {
			d.Add(Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)})
			return nil
		})
	}
	a := f.next(applyWithin)
	for len(a.allow) < 20 {
		a = f.next(applyWithin)
	}
	f.none(300 * time.Millisecond)
}

// A list bad from the start applies nothing: the caller's lists stay.
func TestWatchListsBadAtStart(t *testing.T) {
	f := startWatch(t, "nonsense\n", "")
	f.none(300 * time.Millisecond)
	if logs := f.logged(); len(logs) != 1 || !strings.Contains(logs[0], `allowlist:1: bad address "nonsense"`) {
		t.Fatalf("logs %q", logs)
	}
	os.WriteFile(f.allowPath, []byte("192.0.2.1\n"), 0o644)
	if a := f.next(applyWithin); prefixes(a.allow) != "192.0.2.1" {
		t.Fatalf("%v", a)
	}
}

func TestWatchListsMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	err := Watch(context.Background(), filepath.Join(dir, "allowlist"), filepath.Join(dir, "denylist"),
		func(_, _ []Entry) {}, t.Logf)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
}
