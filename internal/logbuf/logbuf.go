// Package logbuf batches log lines: a request log written line by line costs
// one write syscall per request, which on a busy server is a large share of
// its CPU. Lines reach the underlying writer within the flush interval.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// flushAt is the buffered size that triggers an immediate flush.
const flushAt = 32 << 10

// Writer buffers writes to w and flushes them every interval, when the
// buffer grows past 32 KiB, and on Close. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// New starts a Writer over w flushing every interval.
func New(w io.Writer, interval time.Duration) *Writer {
	l := &Writer{buf: bufio.NewWriterSize(w, 2*flushAt), stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop(interval)
	return l
}

// Write buffers p. Every slog record is one call, so lines never interleave.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	if err == nil && l.buf.Buffered() >= flushAt {
		err = l.buf.Flush()
	}
	return n, err
}

// Flush writes out what is buffered.
func (l *Writer) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

func (l *Writer) loop(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Close stops the timer and flushes; later writes are flushed only when the
// buffer fills, so close last.
func (l *Writer) Close() error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
		<-l.done
	}
	return l.Flush()
}
