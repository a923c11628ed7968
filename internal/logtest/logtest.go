// Package logtest captures what a slog.Logger writes, for tests that check
// that nothing went wrong out of sight (no warning, no error logged).
package logtest

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer holds the text a Logger wrote; safe for the concurrent writes of
// a logger used by many goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Logger returns a text logger writing records of level and above into b.
func (b *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
