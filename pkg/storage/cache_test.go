package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "c.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCacheConformance: the cached store passes the same suite as the
// store itself.
func TestCacheConformance(t *testing.T) {
	storagetest.Run(t, storage.NewCache(openSQLite(t), 1<<20))
}

func TestCacheServesRepeatReadsAndWritesEvict(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t)
	c := storage.NewCache(inner, 1<<20)
	put := func(s storage.Store, v string) {
		if err := s.Put(ctx, "o", []storage.Item{{Name: "k", Value: []byte(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() string {
		sec, err := c.Get(ctx, "o", "k")
		if err != nil {
			t.Fatal(err)
		}
		return string(sec.Value)
	}
	put(c, "v1")
	if get() != "v1" {
		t.Fatal("first read")
	}
	// Written behind the cache's back: the cache still answers v1, which is
	// why serve takes the sqlite file for itself.
	put(inner, "behind")
	if got := get(); got != "v1" {
		t.Fatalf("repeat read went to the store: %q", got)
	}
	put(c, "v2")
	if got := get(); got != "v2" {
		t.Fatalf("after a write through the cache: %q", got)
	}
	if err := c.Delete(ctx, "o", []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "o", "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	put(c, "v3")
	get()
	cur, err := inner.Get(ctx, "o", "k")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Swap(ctx, "o", "k", cur.Value, []byte("swapped")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got := get(); got != "swapped" {
		t.Fatalf("after swap: %q", got)
	}
}

// TestCacheNeverKeepsARacedRead: readers and writers of one key at once;
// afterwards the cache answers what the store holds.
func TestCacheNeverKeepsARacedRead(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t)
	c := storage.NewCache(inner, 1<<20)
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(2)
			go func(w int) {
				defer wg.Done()
				if err := c.Put(ctx, "o", []storage.Item{{Name: "k", Value: []byte(fmt.Sprintf("r%d-w%d", round, w))}}); err != nil {
					t.Errorf("Put: %v", err)
				}
			}(w)
			go func() {
				defer wg.Done()
				// Before the first write lands the key may not exist yet.
				if _, err := c.Get(ctx, "o", "k"); err != nil && !(round == 0 && errors.Is(err, storage.ErrNotFound)) {
					t.Errorf("Get: %v", err)
				}
			}()
		}
		wg.Wait()
		want, err := inner.Get(ctx, "o", "k")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "o", "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Value) != string(want.Value) {
			t.Fatalf("round %d: cache %q, store %q", round, got.Value, want.Value)
		}
	}
}

func TestCacheStaysWithinItsBudget(t *testing.T) {
	ctx := context.Background()
	c := storage.NewCache(openSQLite(t), 64<<10)
	val := make([]byte, 1000)
	for i := 0; i < 300; i++ {
		name := fmt.Sprintf("k%03d", i)
		if err := c.Put(ctx, "o", []storage.Item{{Name: name, Value: val}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "o", name); err != nil {
			t.Fatal(err)
		}
	}
	if n := storage.CacheBytes(c); n > 64<<10 || n == 0 {
		t.Errorf("cache holds %d bytes, budget %d", n, 64<<10)
	}
}
