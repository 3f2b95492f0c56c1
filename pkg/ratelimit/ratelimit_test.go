package ratelimit

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "rl.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSyncModeIsExactAcrossReplicas(t *testing.T) {
	store := openStore(t)
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { return now }
	replicas := []*Limiter{New(store, Options{Now: clock}), New(store, Options{Now: clock}), New(store, Options{Now: clock})}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if ok, _, _ := replicas[i%3].Allow(context.Background(), "ip:10.0.0.1", 10); ok {
				allowed.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("allowed %d of 30 across three replicas, want exactly 10", allowed.Load())
	}
	ok, retry, _ := replicas[0].Allow(context.Background(), "ip:10.0.0.1", 10)
	if ok || retry <= 0 || retry > time.Minute {
		t.Errorf("over the limit: ok=%v retry=%v", ok, retry)
	}
	// Another key has its own count; the next window starts afresh.
	if ok, _, _ := replicas[1].Allow(context.Background(), "ip:10.0.0.2", 10); !ok {
		t.Error("another key was limited")
	}
	now = now.Add(time.Minute)
	if ok, _, _ := replicas[2].Allow(context.Background(), "ip:10.0.0.1", 10); !ok {
		t.Error("the next window is still limited")
	}
}

func TestBatchedModeLearnsOtherReplicas(t *testing.T) {
	store := openStore(t)
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { return now }
	a := New(store, Options{Now: clock, Sync: time.Hour}) // flushed by hand
	b := New(store, Options{Now: clock, Sync: time.Hour})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if ok, _, _ := a.Allow(ctx, "addr:X", 10); !ok {
			t.Fatalf("hit %d refused", i)
		}
	}
	a.Flush(ctx)
	// b has not heard of a's hits until it flushes its own.
	if ok, _, _ := b.Allow(ctx, "addr:X", 10); !ok {
		t.Fatal("b refused its first hit")
	}
	b.Flush(ctx) // total is now 7
	allowed := 0
	for i := 0; i < 10; i++ {
		if ok, _, _ := b.Allow(ctx, "addr:X", 10); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("b allowed %d more after learning the total of 7, want 3", allowed)
	}
	// Close flushes what is pending.
	b.Close()
	n, err := store.Incr(ctx, storeKey("addr:X", now.UnixNano()/int64(time.Minute)), 0, now.Add(time.Hour))
	if err != nil || n != 10 {
		t.Errorf("stored total %d (%v), want 10", n, err)
	}
}

func TestZeroLimitDisables(t *testing.T) {
	l := New(openStore(t), Options{})
	for i := 0; i < 100; i++ {
		if ok, _, _ := l.Allow(context.Background(), "k", 0); !ok {
			t.Fatal("limit 0 refused")
		}
	}
}

func TestStoreDownFailsOpen(t *testing.T) {
	store := openStore(t)
	l := New(store, Options{})
	store.Close() // every Incr now fails
	if ok, _, _ := l.Allow(context.Background(), "k", 1); !ok {
		t.Error("a store fault refused the request")
	}
}

// TestFloodOfKeysStaysBounded: past MaxTracked keys in memory, new keys
// are counted in the store, still exactly.
func TestFloodOfKeysStaysBounded(t *testing.T) {
	store := openStore(t)
	now := time.Unix(1800000000, 0)
	l := New(store, Options{Now: func() time.Time { return now }, Sync: time.Hour, MaxTracked: 2})
	defer l.Close()
	ctx := context.Background()
	l.Allow(ctx, "ip:a", 5)
	l.Allow(ctx, "ip:b", 5)
	for i := 0; i < 3; i++ {
		if ok, _, _ := l.Allow(ctx, "ip:c", 3); !ok {
			t.Fatalf("hit %d of an untracked key refused", i)
		}
	}
	if ok, _, _ := l.Allow(ctx, "ip:c", 3); ok {
		t.Error("an untracked key passed its limit")
	}
	l.mu.Lock()
	n := len(l.counts)
	l.mu.Unlock()
	if n != 2 {
		t.Errorf("%d keys in memory, bound 2", n)
	}
}
