package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Janitor runs a cleanup (expired nonces and counters) in the background at
// most once per interval, and waits for a running one on Close. Backends
// without expiry of their own poke it from the writes that add such rows.
type Janitor struct {
	every time.Duration
	run   func(ctx context.Context)
	last  atomic.Int64 // unix nanoseconds of the last start

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	stop   context.CancelFunc
}

// NewJanitor returns a Janitor that calls run, with a context cancelled on
// Close and bounded to a minute, at most once per every.
func NewJanitor(every time.Duration, run func(ctx context.Context)) *Janitor {
	j := &Janitor{every: every, run: run}
	j.ctx, j.stop = context.WithCancel(context.Background())
	return j
}

// Poke starts a run unless one started less than the interval ago.
func (j *Janitor) Poke() {
	last := j.last.Load()
	t := time.Now().UnixNano()
	if t-last < int64(j.every) || !j.last.CompareAndSwap(last, t) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		ctx, cancel := context.WithTimeout(j.ctx, time.Minute)
		defer cancel()
		j.run(ctx) // best effort: the next run catches up
	}()
}

// Close cancels a running cleanup and waits for it. It reports false when
// the Janitor was closed already, so a Store's Close can be idempotent.
func (j *Janitor) Close() bool {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return false
	}
	j.closed = true
	j.mu.Unlock()
	j.stop()
	j.wg.Wait()
	return true
}
