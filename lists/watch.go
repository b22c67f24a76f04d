package lists

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchDebounce is how long the list watcher waits after the last change
// before it reloads: an editor's save or an `allow add` is several
// events, and one reload should see the finished file.
const WatchDebounce = 100 * time.Millisecond

// Watch reloads the allow and deny list files whenever either
// changes, until ctx ends, and calls apply with both complete lists.
//
// It watches the files' directories, not the files: an edit through
// Edit, and most editors, replace the file by a rename, which a watch
// on the old inode would never see. Events are debounced by WatchDebounce,
// so a change is in force well within a second.
//
// A file that does not parse keeps its previous list in force; each bad
// line is reported through logf as FILE:LINE: what. apply is only ever
// called with lists that parsed, and only when one of them changed. Once
// the watch is in place, both files are read and applied once, so a
// change made between the caller's own load and the watch is not missed;
// if a file is bad at that point nothing is applied until it is fixed.
//
// apply and logf run on Watch's goroutine, one call at a time.
// Watch returns an error only if the watch cannot be set up, and
// nil when ctx ends.
func Watch(ctx context.Context, allowPath, denyPath string, apply func(allow, deny []Entry), logf func(format string, args ...any)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch lists: %w", err)
	}
	defer w.Close()
	// The names an event may carry: each list, and the target of a
	// symlinked list (config management often links them).
	names := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range []string{allowPath, denyPath} {
		for _, q := range []string{filepath.Clean(p), filepath.Clean(resolve(p))} {
			names[q] = true
			dirs[filepath.Dir(q)] = true
		}
	}
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watch lists: %s: %w", dir, err)
		}
	}

	var (
		allow, deny []Entry
		okA, okD    bool // allow and deny hold a list that parsed
		applied     bool
	)
	load := func() {
		changed := false
		if e, err := Load(allowPath); err != nil {
			logf("%v (the allow list in force is kept)", err)
		} else if !okA || !slices.Equal(e, allow) {
			allow, okA, changed = e, true, true
		}
		if e, err := Load(denyPath); err != nil {
			logf("%v (the deny list in force is kept)", err)
		} else if !okD || !slices.Equal(e, deny) {
			deny, okD, changed = e, true, true
		}
		if okA && okD && (changed || !applied) {
			applied = true
			apply(allow, deny)
		}
	}
	load()

	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if names[filepath.Clean(ev.Name)] {
				timer.Reset(WatchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflowed event queue may have lost a change: reload.
			logf("watch lists: %v", err)
			timer.Reset(WatchDebounce)
		case <-timer.C:
			load()
		}
	}
}
