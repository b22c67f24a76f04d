package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, failing the test after
// timeout. It is for waits on what a test cannot step: real processes, the
// kernel, a file watch. Logic under a clock uses a manual clock or
// testing/synctest instead.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll polls cond every 10 ms until it holds or timeout passes, and
// reports whether it held; for callers that fail with their own message.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
