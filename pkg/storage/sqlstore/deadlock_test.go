package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestDeadlockRetried makes a Put deadlock with another transaction: the
// database aborts one of them, and when it picks the Put, the Put must be
// retried rather than fail.
func TestDeadlockRetried(t *testing.T) {
	for _, b := range []struct{ backend, driver string }{{"postgres", "pgx"}, {"mysql", "mysql"}} {
		t.Run(b.backend, func(t *testing.T) {
			uri := storagetest.URI(t, b.backend)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := sqlstore.Open(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cfg, err := sqlstore.ParseURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open(b.driver, cfg.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			q := func(s string) string { // ? → $n for PostgreSQL
				if b.backend != "postgres" {
					return s
				}
				for i := 1; strings.Contains(s, "?"); i++ {
					s = strings.Replace(s, "?", fmt.Sprintf("$%d", i), 1)
				}
				return s
			}

			owner := storagetest.Unique("deadlock-")
			filler := make([]storage.Item, 50)
			for i := range filler {
				filler[i] = storage.Item{Name: fmt.Sprintf("f%02d", i), Value: []byte("0")}
			}
			if err := s.Put(ctx, owner, append(filler, storage.Item{Name: "a", Value: []byte("0")}, storage.Item{Name: "b", Value: []byte("0")})); err != nil {
				t.Fatal(err)
			}

			tx, err := raw.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// A heavy transaction (MySQL aborts the lighter one) that
			// holds b, then wants a.
			if _, err := tx.ExecContext(ctx, q(`UPDATE secrets SET value = ? WHERE owner = ? AND name LIKE 'f%'`), []byte("raw"), owner); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, q(`UPDATE secrets SET value = ? WHERE owner = ? AND name = 'b'`), []byte("raw"), owner); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				// Takes a, then waits for b.
				done <- s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("put")}, {Name: "b", Value: []byte("put")}})
			}()
			time.Sleep(300 * time.Millisecond)
			if _, err := tx.ExecContext(ctx, q(`UPDATE secrets SET value = ? WHERE owner = ? AND name = 'a'`), []byte("raw"), owner); err != nil {
				t.Logf("the other transaction was the victim: %v", err)
				tx.Rollback()
			} else if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Put in a deadlock: %v", err)
			}
			for _, n := range []string{"a", "b"} {
				if sec, err := s.Get(ctx, owner, n); err != nil || string(sec.Value) != "put" || sec.Version != 2 {
					t.Errorf("%s = %q version %d, %v; want put version 2", n, sec.Value, sec.Version, err)
				}
			}
		})
	}
}
