package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestSQLiteQuota(t *testing.T) { storagetest.RunQuota(t, openURI(t, sqliteURI(t))) }

func TestPostgresQuota(t *testing.T) { storagetest.RunQuota(t, storagetest.Open(t, "postgres", open)) }

func TestMySQLQuota(t *testing.T) { storagetest.RunQuota(t, storagetest.Open(t, "mysql", open)) }

// TestQuotaUpgrade: a store upgraded from schema 2 has data and no usage
// records. The first write counts the owner once, under the lock, and the
// count is kept from then on.
func TestQuotaUpgrade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		s, raw := openWithRaw(t, backendURI(t, backend))
		owner := storagetest.Unique("upgrade-")
		if err := s.Put(ctx, owner, []storage.Item{{Name: "put", Value: []byte("12345")}}); err != nil {
			t.Fatal(err)
		}
		for i, v := range []string{"aaaaaaaaaa", "bbbbbbbbbb"} {
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "hist", Value: []byte(v), CAS: int64(i)}}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "gone", Value: []byte("ccc"), CAS: storage.NoCAS}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "gone", Delete: true, CAS: storage.NoCAS}}}); err != nil {
			t.Fatal(err)
		}
		want := storage.Usage{Secrets: 3, Bytes: 28}
		if u, err := s.Usage(ctx, owner); err != nil || u != want {
			t.Fatalf("Usage = %+v, %v; want %+v", u, err, want)
		}
		// As schema 2 left it: no record.
		del := `DELETE FROM quota_usage WHERE owner = ?`
		if backend == "postgres" {
			del = strings.Replace(del, "?", "$1", 1)
		}
		if _, err := raw.ExecContext(ctx, del, owner); err != nil {
			t.Fatal(err)
		}
		if u, err := s.Usage(ctx, owner); err != nil || u != want {
			t.Fatalf("Usage without a record = %+v, %v; want %+v", u, err, want)
		}
		s.SetQuota(storage.Quota{Secrets: 3, Bytes: 30})
		err := s.Put(ctx, owner, []storage.Item{{Name: "new", Value: []byte("x")}})
		if qe, ok := err.(*storage.QuotaError); !ok || qe.Limit != storage.LimitSecrets || qe.Used != 3 {
			t.Fatalf("a new name past the limit on an uncounted owner: %v", err)
		}
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "hist", Value: []byte("12"), CAS: storage.NoCAS}}}); err != nil {
			t.Fatal(err)
		}
		want.Bytes += 2
		if u, err := s.Usage(ctx, owner); err != nil || u != want {
			t.Fatalf("Usage after the first write = %+v, %v; want %+v", u, err, want)
		}
		var n int
		q := fmt.Sprintf(`SELECT COUNT(*) FROM quota_usage WHERE owner = '%s'`, owner)
		if err := raw.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 1 {
			t.Fatalf("usage records after the first write: %d, %v", n, err)
		}
	})
}

// TestQuotaBigBatch: a Put of more than one chunk is counted from the
// data after writing; past the limit it is refused whole.
func TestQuotaBigBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		ctx := context.Background()
		s := openURI(t, backendURI(t, b))
		s.SetQuota(storage.Quota{Secrets: 700})
		owner := storagetest.Unique("big-")
		batch := func(from, n int, v string) []storage.Item {
			items := make([]storage.Item, n)
			for i := range items {
				items[i] = storage.Item{Name: fmt.Sprintf("k%04d", from+i), Value: []byte(v)}
			}
			return items
		}
		wantUsage := func(secrets, bytes int64) {
			t.Helper()
			if u, err := s.Usage(ctx, owner); err != nil || u != (storage.Usage{Secrets: secrets, Bytes: bytes}) {
				t.Fatalf("Usage = %+v, %v; want {%d %d}", u, err, secrets, bytes)
			}
		}
		// A deleted name with history: Put brings it back after it.
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k0000", Value: []byte("h"), CAS: storage.NoCAS}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k0000", Delete: true, CAS: storage.NoCAS}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, owner, batch(0, 600, "x")); err != nil {
			t.Fatal(err)
		}
		wantUsage(600, 601)
		if v, err := s.GetVersion(ctx, owner, "k0000", 0); err != nil || v.Version != 3 || string(v.Value) != "x" {
			t.Errorf("a deleted name put again: %+v, %v; want version 3", v, err)
		}
		err := s.Put(ctx, owner, batch(500, 600, "yy"))
		if qe, ok := err.(*storage.QuotaError); !ok || qe.Limit != storage.LimitSecrets || qe.Used != 600 {
			t.Fatalf("a batch past the limit: %v", err)
		}
		if _, err := s.Get(ctx, owner, "k1099"); err == nil {
			t.Error("a refused batch was written")
		}
		wantUsage(600, 601)
		if err := s.Put(ctx, owner, batch(0, 600, "yy")); err != nil {
			t.Fatal(err)
		}
		wantUsage(600, 1201)
	})
}
