package testutil

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// LogBuffer is a bytes buffer that goroutines may write to while a test
// reads it: the target of a test's slog handler, where the code under test
// logs from its own goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Contains reports whether s has been written.
func (l *LogBuffer) Contains(s string) bool { return strings.Contains(l.String(), s) }

// Logger returns a text logger (debug level and up) writing to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
