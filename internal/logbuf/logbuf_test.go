package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuf) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLinesArriveWholeAndInBatches(t *testing.T) {
	out := &lockedBuf{}
	w := New(out, 20*time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				fmt.Fprintf(w, "goroutine %d line %d %s\n", g, i, strings.Repeat("x", 50))
			}
		}(g)
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	text, writes := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4000 {
		t.Fatalf("%d lines, want 4000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "goroutine ") || !strings.HasSuffix(l, strings.Repeat("x", 50)) {
			t.Fatalf("torn line %q", l)
		}
	}
	if writes > 40 {
		t.Errorf("%d writes for 4000 lines: not batched", writes)
	}
}

func TestFlushedWithinTheInterval(t *testing.T) {
	out := &lockedBuf{}
	w := New(out, 10*time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "listening")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s, _ := out.snapshot(); s == "listening\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a line waited more than 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
