package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func open(ctx context.Context, uri string) (storage.Store, error) { return sqlstore.Open(ctx, uri) }

func sqliteURI(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "test.sqlite")
}

// backendURI is a sqlite file of t's own, or the test database of backend
// ("postgres", "mysql").
func backendURI(t testing.TB, backend string) string {
	if backend == sqlstore.SQLite {
		return sqliteURI(t)
	}
	return storagetest.URI(t, backend)
}

// sqlBackends are the backends of this package, by name.
var sqlBackends = []string{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL}

// forEachBackend runs fn as a subtest of t for each of sqlBackends, named
// after it.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range sqlBackends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// openBackend opens a store of backend: a sqlite file of t's own, or the
// test database (storagetest.Open); closed when t ends.
func openBackend(t testing.TB, backend string) *sqlstore.Store {
	t.Helper()
	if backend == sqlstore.SQLite {
		return openURI(t, sqliteURI(t))
	}
	return storagetest.Open(t, backend, open).(*sqlstore.Store)
}

// openURI opens a store on uri, closed when t ends.
func openURI(t testing.TB, uri string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openWithRaw opens a store on uri and a plain database/sql handle on the
// same database, for tests that write what the store would not; both are
// closed when t ends.
func openWithRaw(t testing.TB, uri string) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	s := openURI(t, uri)
	cfg, err := sqlstore.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	driver := map[string]string{sqlstore.SQLite: "sqlite", sqlstore.Postgres: "pgx", sqlstore.MySQL: "mysql"}[cfg.Dialect]
	raw, err := sql.Open(driver, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}

// rebindFor turns ? into $n for PostgreSQL.
func rebindFor(backend, q string) string {
	if backend != sqlstore.Postgres {
		return q
	}
	for i := 1; strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
	}
	return q
}

func TestSQLite(t *testing.T) { storagetest.Run(t, openURI(t, sqliteURI(t))) }

func TestPostgres(t *testing.T) { storagetest.Run(t, storagetest.Open(t, "postgres", open)) }

func TestMySQL(t *testing.T) { storagetest.Run(t, storagetest.Open(t, "mysql", open)) }

// TestConcurrentOpen starts three stores on one database at once, as three
// replicas of the server do: the migration lock must let all of them in.
func TestConcurrentOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		uri := backendURI(t, b)
		var wg sync.WaitGroup
		stores := make([]*sqlstore.Store, 3)
		errs := make([]error, 3)
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				stores[i], errs[i] = sqlstore.Open(ctx, uri)
			}()
		}
		wg.Wait()
		owner := storagetest.Unique("open-")
		for i, s := range stores {
			if errs[i] != nil {
				t.Fatalf("store %d: %v", i, errs[i])
			}
			defer s.Close()
			if err := s.Put(context.Background(), owner, []storage.Item{{Name: fmt.Sprint(i), Value: []byte("v")}}); err != nil {
				t.Fatalf("store %d: %v", i, err)
			}
		}
		got, err := stores[0].List(context.Background(), owner, "")
		if err != nil || len(got) != 3 {
			t.Fatalf("List = %d, %v", len(got), err)
		}
	})
}

// TestSQLiteProcessesShareFile runs two independent stores (two pools, as
// two processes would have) on one SQLite file with concurrent batches:
// busy_timeout and BEGIN IMMEDIATE must keep SQLITE_BUSY away.
func TestSQLiteProcessesShareFile(t *testing.T) {
	uri := sqliteURI(t)
	ctx := context.Background()
	a, err := sqlstore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlstore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for i, s := range []*sqlstore.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 25 {
				items := make([]storage.Item, 10)
				for k := range items {
					items[k] = storage.Item{Name: fmt.Sprintf("k%d", k), Value: []byte(fmt.Sprint(i, r))}
				}
				if err := s.Put(ctx, "owner", items); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
				if _, err := s.Incr(ctx, "ctr", 1, time.Now().Add(time.Hour)); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := a.Incr(ctx, "ctr", 0, time.Now().Add(time.Hour)); err != nil || n != 100 {
		t.Fatalf("counter = %d, %v; want 100", n, err)
	}
	sec, err := b.Get(ctx, "owner", "k3")
	if err != nil || sec.Version != 100 {
		t.Fatalf("k3 version %d, %v; want 100", sec.Version, err)
	}
}

// BenchmarkGet reads one of 1,000 keys in a namespace: the GET
// /secrets/:key hot path.
func BenchmarkGet(b *testing.B) { benchmark(b, storagetest.BenchmarkGet) }

// BenchmarkList lists 1,000 keys, or 10 by prefix: GET /secrets.
func BenchmarkList(b *testing.B) { benchmark(b, storagetest.BenchmarkList) }

func benchmark(b *testing.B, run func(*testing.B, storage.Store)) {
	for _, backend := range sqlBackends {
		b.Run(backend, func(b *testing.B) { run(b, openBackend(b, backend)) })
	}
}
