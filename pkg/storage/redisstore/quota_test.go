package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// openOwn opens the test Redis under a key prefix of its own, so a test
// may set a quota or look at every key without meeting other tests.
func openOwn(t testing.TB) (*redisstore.Store, string) {
	t.Helper()
	return openOwnOn(t, "redis")
}

// openOwnOn is openOwn on a backend of the redis kind (redis_cluster…).
func openOwnOn(t testing.TB, backend string) (*redisstore.Store, string) {
	t.Helper()
	uri := storagetest.URI(t, backend)
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	prefix := storagetest.Unique("q") + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := redisstore.Open(ctx, uri+sep+redisstore.PrefixParam+"="+prefix)
	if err != nil {
		t.Fatalf("opening %s from %s: %v", backend, storagetest.EnvVar(backend), err)
	}
	t.Cleanup(func() { s.Close() })
	return s, uri
}

func wantQuota(t *testing.T, err error, limit string, used, max int64) {
	t.Helper()
	var qe *storage.QuotaError
	if !errors.As(err, &qe) || qe.Limit != limit || qe.Used != used || qe.Max != max {
		t.Fatalf("got %v, want a %s quota error at %d of %d", err, limit, used, max)
	}
}

func usage(t *testing.T, s *redisstore.Store, owner string) storage.Usage {
	t.Helper()
	u, err := s.Usage(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func set(name, value string) storage.Change {
	return storage.Change{Name: name, Value: []byte(value), CAS: storage.NoCAS}
}

// TestQuotaSecrets: the count of names is enforced on Put and on Commit, a
// refused batch writes nothing, and what does not add a name passes.
func TestQuotaSecrets(t *testing.T) {
	ctx := context.Background()
	s, _ := openOwn(t)
	s.SetQuota(storage.Quota{Secrets: 3})
	owner := storagetest.Unique("owner-")
	if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("c", "3")}}); err != nil {
		t.Fatal(err)
	}
	err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("new a")}, {Name: "d", Value: []byte("4")}})
	wantQuota(t, err, storage.LimitSecrets, 3, 3)
	if sec, _ := s.Get(ctx, owner, "a"); string(sec.Value) != "1" {
		t.Errorf("a refused batch wrote a = %q", sec.Value)
	}
	_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("b", "x"), set("e", "5")}})
	wantQuota(t, err, storage.LimitSecrets, 3, 3)
	if _, err := s.Get(ctx, owner, "e"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused commit wrote e: %v", err)
	}
	// Overwrites, soft deletes and deletes add no name.
	if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("A")}}); err != nil {
		t.Errorf("an overwrite at the limit: %v", err)
	}
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "c", Delete: true, CAS: storage.NoCAS}}}); err != nil {
		t.Errorf("a soft delete at the limit: %v", err)
	}
	// A soft-deleted name still takes its place until it is destroyed.
	_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("f", "6")}})
	wantQuota(t, err, storage.LimitSecrets, 3, 3)
	if err := s.Destroy(ctx, owner, []string{"c"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, owner, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if got := usage(t, s, owner); got.Secrets != 1 {
		t.Errorf("after a destroy and a delete: %+v, want 1 secret", got)
	}
	if err := s.Put(ctx, owner, []storage.Item{{Name: "f", Value: []byte("6")}, {Name: "g", Value: []byte("7")}}); err != nil {
		t.Errorf("room made again: %v", err)
	}
}

// TestQuotaBytes: every kept version counts; Keep's trimming in the same
// commit makes room; a write that does not grow use passes over a lowered
// limit.
func TestQuotaBytes(t *testing.T) {
	ctx := context.Background()
	s, _ := openOwn(t)
	s.SetQuota(storage.Quota{Bytes: 100})
	owner := storagetest.Unique("owner-")
	v40 := strings.Repeat("x", 40)
	for range 2 {
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("k", v40)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := usage(t, s, owner); got != (storage.Usage{Secrets: 1, Bytes: 80}) {
		t.Fatalf("two versions of 40 bytes: %+v", got)
	}
	_, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("k", v40)}})
	wantQuota(t, err, storage.LimitBytes, 80, 100)
	if vs, _ := s.Versions(ctx, owner, "k"); len(vs) != 2 {
		t.Errorf("a refused commit left %d versions", len(vs))
	}
	// With Keep 2 the oldest version goes in the same commit: 80 bytes again.
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Keep: 2, Changes: []storage.Change{set("k", v40)}}); err != nil {
		t.Fatalf("a commit that trims as much as it adds: %v", err)
	}
	if got := usage(t, s, owner); got.Bytes != 80 {
		t.Errorf("after trimming: %+v", got)
	}
	err = s.Put(ctx, owner, []storage.Item{{Name: "p", Value: []byte(strings.Repeat("y", 21))}})
	wantQuota(t, err, storage.LimitBytes, 80, 100)
	if err := s.Put(ctx, owner, []storage.Item{{Name: "p", Value: []byte(strings.Repeat("y", 20))}}); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	s.SetQuota(storage.Quota{Bytes: 50})
	if err := s.Put(ctx, owner, []storage.Item{{Name: "p", Value: []byte("smaller")}}); err != nil {
		t.Errorf("a shrinking write over a lowered limit: %v", err)
	}
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k", Delete: true, CAS: storage.NoCAS}}}); err != nil {
		t.Errorf("a soft delete over a lowered limit: %v", err)
	}
	s.SetQuota(storage.Quota{})
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("big", strings.Repeat("z", 1000))}}); err != nil {
		t.Errorf("no limit: %v", err)
	}
}

// TestQuotaRace: writers racing for the last places: exactly as many
// win as there is room, on one Redis as on many replicas.
func TestQuotaRace(t *testing.T) {
	s, _ := openOwn(t)
	const room, writers = 5, 20
	s.SetQuota(storage.Quota{Secrets: room})
	owner := storagetest.Unique("owner-")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				err = s.Put(context.Background(), owner, []storage.Item{{Name: fmt.Sprint("n", i), Value: []byte("v")}})
			} else {
				_, err = s.Commit(context.Background(), storage.Commit{Owner: owner, Changes: []storage.Change{set(fmt.Sprint("n", i), "v")}})
			}
			var qe *storage.QuotaError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.As(err, &qe):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != room {
		t.Errorf("%d writers won %d places", wins, room)
	}
	if got := usage(t, s, owner); got.Secrets != room {
		t.Errorf("usage %+v", got)
	}
}

// TestUsageMatchesRecount: after a random mix of every kind of write, the
// usage the scripts kept equals a count from scratch of what is kept.
func TestUsageMatchesRecount(t *testing.T) {
	ctx := context.Background()
	s, _ := openOwn(t)
	owner := storagetest.Unique("owner-")
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "c", "d/e", "f"}
	value := func() []byte { return []byte(strings.Repeat("v", rng.IntN(50))) }
	for i := range 300 {
		name := names[rng.IntN(len(names))]
		var err error
		switch rng.IntN(9) {
		case 0, 1:
			err = s.Put(ctx, owner, []storage.Item{{Name: name, Value: value()}})
		case 2, 3, 4:
			_, err = s.Commit(ctx, storage.Commit{Owner: owner, Keep: rng.IntN(4), Changes: []storage.Change{{Name: name, Value: value(), CAS: storage.NoCAS}}})
		case 5:
			_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: name, Delete: true, CAS: storage.NoCAS}}})
		case 6:
			err = s.Delete(ctx, owner, []string{name})
		case 7:
			err = s.Destroy(ctx, owner, []string{name}, nil)
		case 8:
			if sec, gerr := s.Get(ctx, owner, name); gerr == nil {
				_, err = s.Swap(ctx, owner, name, sec.Value, value())
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i%50 == 49 {
			if err := s.PurgeHistory(ctx, time.Now().Add(-time.Duration(rng.IntN(3))*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := usage(t, s, owner)
	counted, err := s.Recount(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if kept != counted {
		t.Fatalf("usage kept by the writes %+v, counted from scratch %+v", kept, counted)
	}
	if kept.Secrets == 0 || kept.Bytes == 0 {
		t.Fatalf("nothing left to compare: %+v", kept)
	}
	// And the count is what a reader sees.
	var secrets, bytes int64
	for _, n := range names {
		vs, err := s.Versions(ctx, owner, n)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		secrets++
		for _, v := range vs {
			full, err := s.GetVersion(ctx, owner, n, v.Version)
			if err != nil {
				t.Fatal(err)
			}
			bytes += int64(len(full.Value))
		}
	}
	if (storage.Usage{Secrets: secrets, Bytes: bytes}) != kept {
		t.Errorf("the versions a reader sees: %d secrets, %d bytes; usage %+v", secrets, bytes, kept)
	}
}

// TestOneSlotPerOwner: every key an owner's writes create carries the
// owner as its hash tag, so a Redis Cluster keeps them in one slot and
// each script touches one slot.
func TestOneSlotPerOwner(t *testing.T) {
	ctx := context.Background()
	s, uri := openOwn(t)
	s.SetQuota(storage.Quota{Secrets: 100})
	owner := storagetest.Unique("owner-")
	if err := s.Put(ctx, owner, []storage.Item{{Name: "p", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	ev := audit.Event{Time: time.Now(), Action: audit.Write, Keys: []string{"k"}, Actor: "a", IP: "127.0.0.1", Status: 200}
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("k", "v")}, Event: &ev}); err != nil {
		t.Fatal(err)
	}
	keys := s.Keys(owner)
	raw := rawClient(t, uri)
	var found int
	for _, k := range keys {
		n, err := raw.Exists(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		found += int(n)
		open := strings.IndexByte(k, '{')
		end := strings.IndexByte(k[open+1:], '}')
		if open < 0 || end < 0 || k[open+1:open+1+end] != owner {
			t.Errorf("key %q does not have the hash tag {%s}", k, owner)
		}
	}
	if found != len(keys) {
		t.Errorf("%d of the owner's %d keys exist: the test does not exercise them all", found, len(keys))
	}
	// Nothing else of the owner's exists outside those keys.
	all, err := raw.Keys(ctx, "*"+owner+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(keys) {
		t.Errorf("the owner has keys %q; the layout names %q", all, keys)
	}
}
