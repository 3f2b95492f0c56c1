package fault_test

import (
	"context"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
)

func TestInjector(t *testing.T) {
	var i fault.Injector[int]
	if f, ok := i.Wait(context.Background(), 0); f != 0 || !ok {
		t.Fatalf("zero Injector: Wait = %d, %v; want 0, true", f, ok)
	}
	i.SetFailure(503)
	if f, ok := i.Wait(context.Background(), 0); f != 503 || !ok {
		t.Fatalf("Wait = %d, %v; want 503, true", f, ok)
	}
	i.SetFailure(0)

	// The delay lasts until the client leaves.
	i.SetDelay(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { _, ok := i.Wait(ctx, 0); done <- ok }()
	cancel()
	if ok := <-done; ok {
		t.Fatal("Wait returned ok after the context ended")
	}
	if n := i.Abandoned(); n != 1 {
		t.Fatalf("Abandoned = %d, want 1", n)
	}

	// Delay and extra add up.
	i.SetDelay(20 * time.Millisecond)
	start := time.Now()
	if _, ok := i.Wait(context.Background(), 30*time.Millisecond); !ok {
		t.Fatal("Wait failed")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("waited %s, want at least 50ms", d)
	}
}
