package storage

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestJanitorRunsAtMostOncePerIntervalAndStopsOnClose(t *testing.T) {
	var runs atomic.Int32
	started := make(chan struct{}, 10)
	j := NewJanitor(time.Hour, func(ctx context.Context) {
		runs.Add(1)
		started <- struct{}{}
		<-ctx.Done() // a long cleanup: Close must cancel and wait for it
	})
	for i := 0; i < 50; i++ {
		j.Poke()
	}
	<-started
	if !j.Close() {
		t.Fatal("first Close reported closed already")
	}
	if runs.Load() != 1 {
		t.Errorf("%d runs for 50 pokes within the interval", runs.Load())
	}
	if j.Close() {
		t.Error("second Close did not report closed")
	}
	j.last.Store(0) // the interval has passed, but the janitor is closed
	j.Poke()
	time.Sleep(20 * time.Millisecond)
	if runs.Load() != 1 {
		t.Error("a closed janitor ran")
	}
}
