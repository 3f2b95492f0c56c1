// Package lockedio makes writers safe for concurrent use: each Write is one
// call to the underlying writer, under a lock, so concurrent log lines never
// interleave.
package lockedio

import (
	"bytes"
	"io"
	"sync"
)

// Writer serializes the Writes to the writer it wraps.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns a Writer over w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p to the underlying writer in one call, under the lock.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Buffer is an in-memory log sink that tests read while the code under
// test may still write to it.
type Buffer struct {
	Writer
	b bytes.Buffer
}

// NewBuffer returns an empty Buffer.
func NewBuffer() *Buffer {
	b := &Buffer{}
	b.w = &b.b
	return b
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
