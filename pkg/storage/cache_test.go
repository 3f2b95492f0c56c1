package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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

// TestCacheServesListingsAndWritesEvict: a namespace read once answers
// later listings, whole or by prefix, and job reads (GetMany) from memory;
// every kind of write to the owner drops it.
func TestCacheServesListingsAndWritesEvict(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t)
	c := storage.NewCache(inner, 1<<20)
	put := func(s storage.Store, kv ...string) {
		t.Helper()
		var items []storage.Item
		for i := 0; i < len(kv); i += 2 {
			items = append(items, storage.Item{Name: kv[i], Value: []byte(kv[i+1])})
		}
		if err := s.Put(ctx, "o", items); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) string {
		t.Helper()
		secs, err := c.List(ctx, "o", prefix)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, s := range secs {
			fmt.Fprintf(&b, "%s=%s ", s.Name, s.Value)
		}
		return b.String()
	}
	put(c, "a/1", "x", "a/2", "y", "b", "z")
	if got := list(""); got != "a/1=x a/2=y b=z " {
		t.Fatalf("first listing: %q", got)
	}
	// Behind the cache's back: listings still answer from memory.
	put(inner, "a/3", "behind")
	if got := list("a/"); got != "a/1=x a/2=y " {
		t.Fatalf("prefix listing went to the store: %q", got)
	}
	if got, err := c.GetMany(ctx, "o", []string{"a/3", "b"}); err != nil || len(got) != 1 || string(got[0].Value) != "z" {
		t.Fatalf("GetMany went to the store: %+v %v", got, err)
	}
	// A caller that changes what it got does not change the cache.
	secs, _ := c.List(ctx, "o", "")
	secs[0].Value = []byte("changed")
	if got := list("a/1"); got != "a/1=x " {
		t.Fatalf("the cache shares its slice: %q", got)
	}
	for _, write := range []func(){
		func() { put(c, "a/4", "w") },
		func() { _ = c.Delete(ctx, "o", []string{"a/4"}) },
		func() { _, _ = c.Swap(ctx, "o", "a/1", []byte("x"), []byte("x2")) },
	} {
		list("") // cached again
		before := list("a/")
		write()
		if after := list("a/"); after == before {
			t.Errorf("a write left the listing %q cached", after)
		}
	}
	if got := list(""); got != "a/1=x2 a/2=y a/3=behind b=z " {
		t.Fatalf("after the writes: %q", got)
	}
}

// TestCacheLeavesBigNamespacesToTheStore: a namespace over half the budget
// is not kept, and listings still answer right.
func TestCacheLeavesBigNamespacesToTheStore(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t)
	c := storage.NewCache(inner, 16<<10)
	items := make([]storage.Item, 100)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("k%03d", i), Value: make([]byte, 200)}
	}
	if err := c.Put(ctx, "o", items); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if secs, err := c.List(ctx, "o", ""); err != nil || len(secs) != 100 {
			t.Fatalf("List = %d, %v", len(secs), err)
		}
		if secs, err := c.List(ctx, "o", "k05"); err != nil || len(secs) != 10 {
			t.Fatalf("prefix List = %d, %v", len(secs), err)
		}
	}
	if n := storage.CacheBytes(c); n > 16<<10 {
		t.Errorf("cache holds %d bytes, budget %d", n, 16<<10)
	}
	if err := inner.Put(ctx, "o", []storage.Item{{Name: "k100", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if secs, _ := c.List(ctx, "o", ""); len(secs) != 101 {
		t.Errorf("a namespace too big to keep was answered from memory: %d", len(secs))
	}
}

// racingLister writes to another owner through the cache while the cache
// is loading a namespace, as a concurrent request would.
type racingLister struct {
	storage.Store
	c    *storage.Cache
	once sync.Once
}

func (r *racingLister) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	r.once.Do(func() {
		if err := r.c.Put(ctx, "other", []storage.Item{{Name: "x", Value: []byte("1")}}); err != nil {
			panic(err)
		}
	})
	return r.Store.ListPage(ctx, owner, prefix, after, limit)
}

// A write racing the load of a namespace too big to keep must not make the
// load's first pages pass for the whole listing (it once answered 7,168 of
// 10,000 secrets).
func TestCacheRacedLoadOfABigNamespaceIsWhole(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t)
	items := make([]storage.Item, 2000)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("k%04d", i), Value: make([]byte, 100)}
	}
	if err := inner.Put(ctx, "o", items); err != nil {
		t.Fatal(err)
	}
	r := &racingLister{Store: inner}
	c := storage.NewCache(r, 64<<10)
	r.c = c
	secs, err := c.List(ctx, "o", "")
	if err != nil || len(secs) != len(items) {
		t.Fatalf("List = %d secrets, %v; want %d", len(secs), err, len(items))
	}
}
