package lockedio

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsLinesWhole(t *testing.T) {
	b := NewBuffer()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(b, "g%d line %d %s\n", g, i, strings.Repeat("x", 40))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, strings.Repeat("x", 40)) || strings.Count(l, "line") != 1 {
			t.Fatalf("torn line %q", l)
		}
	}
}
