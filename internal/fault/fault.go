// Package fault holds the delay and the failure a fake server applies to
// every request, so that the test servers share one way to set them.
package fault

import (
	"context"
	"sync"
	"time"
)

// Injector holds a delay and a failure of type F (the zero F means none).
// Embed it to give a server SetDelay and SetFailure. It is safe for
// concurrent use; the zero Injector injects nothing.
type Injector[F comparable] struct {
	mu        sync.Mutex
	delay     time.Duration
	failure   F
	abandoned int
}

// SetDelay makes every answer wait d (or until the client gives up).
func (i *Injector[F]) SetDelay(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.delay = d
}

// SetFailure makes every following request fail as f says; the zero value
// stops failing.
func (i *Injector[F]) SetFailure(f F) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failure = f
}

// Abandoned returns how many requests the client gave up on while they
// waited out the delay.
func (i *Injector[F]) Abandoned() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.abandoned
}

// Wait waits out the delay plus extra, then returns the failure to apply.
// ok is false when ctx ended first: the client has gone, answer nothing.
func (i *Injector[F]) Wait(ctx context.Context, extra time.Duration) (failure F, ok bool) {
	i.mu.Lock()
	d, f := i.delay+extra, i.failure
	i.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			i.mu.Lock()
			i.abandoned++
			i.mu.Unlock()
			return f, false
		}
	}
	return f, true
}
