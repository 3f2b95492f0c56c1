// Package ratelimit counts requests per key in fixed windows whose counters
// live in the storage backend, so every replica adds to the same count.
//
// With Sync zero every hit is one Incr in the store: exact across replicas.
// With Sync > 0 hits are counted in memory and added to the store in one
// Incr per key every Sync, which keeps the store off the request path; a
// replica then knows the others' hits up to Sync late, so the fleet may
// admit a little more than the limit within one Sync period.
package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Counter is the storage that holds shared counts (storage.Store is one).
type Counter interface {
	Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error)
}

// Limiter decides whether a key may make another request in this window.
type Limiter struct {
	store  Counter
	window time.Duration
	sync   time.Duration
	now    func() time.Time
	log    *slog.Logger
	// maxTracked bounds counts; beyond it new keys are counted in the store.
	maxTracked int

	mu     sync.Mutex
	counts map[string]*count
	stop   chan struct{}
	done   chan struct{}
}

// count is what this replica knows of one key in one window.
type count struct {
	window  int64 // index of the window the count belongs to
	global  int64 // the store's total at the last flush
	pending int64 // hits not yet added to the store
}

// Options configure a Limiter.
type Options struct {
	Window time.Duration // length of a counting window; default one minute
	Sync   time.Duration // 0: every hit goes to the store; else flush period
	Now    func() time.Time
	Logger *slog.Logger
	// MaxTracked bounds the keys counted in memory; 0 means DefaultMaxTracked.
	MaxTracked int
}

// New returns a Limiter over store. With Sync > 0 it flushes in the
// background until Close.
func New(store Counter, o Options) *Limiter {
	l := &Limiter{store: store, window: o.Window, sync: o.Sync, now: o.Now, log: o.Logger, maxTracked: o.MaxTracked,
		counts: map[string]*count{}, stop: make(chan struct{}), done: make(chan struct{})}
	if l.window <= 0 {
		l.window = time.Minute
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxTracked <= 0 {
		l.maxTracked = DefaultMaxTracked
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.sync > 0 {
		go l.flushLoop()
	} else {
		close(l.done)
	}
	return l
}

// Close stops the background flush after a last one.
func (l *Limiter) Close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	<-l.done
}

// Allow counts one hit of key and reports whether it is within limit hits
// per window; when it is not, retryAfter says when the window ends. A limit
// of 0 or less allows everything without counting. When the store fails,
// Allow reports ok with the store's error: the caller decides whether to
// let the hit through.
func (l *Limiter) Allow(ctx context.Context, key string, limit int64) (ok bool, retryAfter time.Duration, err error) {
	if limit <= 0 {
		return true, 0, nil
	}
	now := l.now()
	idx := now.UnixNano() / int64(l.window)
	end := time.Unix(0, (idx+1)*int64(l.window))
	retryAfter = end.Sub(now)
	if l.sync > 0 {
		l.mu.Lock()
		c := l.counts[key]
		if c != nil || len(l.counts) < l.maxTracked {
			defer l.mu.Unlock()
			return l.allowLocal(c, key, idx, limit), retryAfter, nil
		}
		l.mu.Unlock() // too many keys in memory: count this one in the store
	}
	n, err := l.store.Incr(ctx, storeKey(key, idx), 1, end.Add(l.window))
	if err != nil {
		return true, 0, err
	}
	return n <= limit, retryAfter, nil
}

// DefaultMaxTracked bounds the keys counted in memory in batched mode;
// hits of further keys (a flood of client addresses) go to the store.
const DefaultMaxTracked = 100_000

// allowLocal counts a hit in memory; l.mu is held.
func (l *Limiter) allowLocal(c *count, key string, idx, limit int64) bool {
	if c == nil || c.window != idx {
		c = &count{window: idx}
		l.counts[key] = c
	}
	if c.global+c.pending >= limit {
		return false
	}
	c.pending++
	return true
}

func storeKey(key string, idx int64) string { return "rl:" + key + ":" + strconv.FormatInt(idx, 36) }

func (l *Limiter) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(l.sync)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush(context.Background())
		case <-l.stop:
			l.Flush(context.Background())
			return
		}
	}
}

// Flush adds every pending count to the store and learns the totals of all
// replicas. It drops counts of windows that have ended.
func (l *Limiter) Flush(ctx context.Context) {
	type job struct {
		key     string
		c       *count
		pending int64
	}
	current := l.now().UnixNano() / int64(l.window)
	var jobs []job
	l.mu.Lock()
	for k, c := range l.counts {
		switch {
		case c.window < current:
			delete(l.counts, k) // its hits no longer matter
		case c.pending > 0:
			jobs = append(jobs, job{k, c, c.pending})
		}
	}
	l.mu.Unlock()
	for _, j := range jobs {
		end := time.Unix(0, (j.c.window+1)*int64(l.window))
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := l.store.Incr(cctx, storeKey(j.key, j.c.window), j.pending, end.Add(l.window))
		cancel()
		if err != nil {
			l.log.Warn("rate limit counters not flushed", "error", err.Error())
			return
		}
		l.mu.Lock()
		j.c.pending -= j.pending
		if n > j.c.global {
			j.c.global = n
		}
		l.mu.Unlock()
	}
}
