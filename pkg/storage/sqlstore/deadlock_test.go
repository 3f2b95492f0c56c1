package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestDeadlockRetried makes a Put deadlock with another transaction that the
// database is made to spare (PostgreSQL: the other waits far longer before
// it checks for deadlocks; MySQL: the other has changed more rows), so the
// Put is the one aborted; it must be retried rather than fail.
func TestDeadlockRetried(t *testing.T) {
	for _, backend := range []string{"postgres", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, raw := openWithRaw(t, storagetest.URI(t, backend))
			q := func(s string) string { return rebindFor(backend, s) }

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
			// blocked counts the transactions waiting for a lock tx holds.
			var blocked string
			var id int64
			if backend == "postgres" {
				if _, err := tx.ExecContext(ctx, `SET LOCAL deadlock_timeout = '1min'`); err != nil {
					t.Fatal(err)
				}
				blocked = `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`
				err = tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&id)
			} else {
				// MariaDB's innodb_trx and innodb_lock_waits leave out a
				// transaction that began with a locking read (the Put's
				// usage lock); the monitor lists it, with its statement.
				blocked = "SHOW ENGINE INNODB STATUS"
			}
			if err != nil {
				t.Fatal(err)
			}
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
			// Wait until the Put holds a and waits for b.
			for n := 0; n == 0; {
				if backend == "postgres" {
					err = raw.QueryRowContext(ctx, blocked, id).Scan(&n)
				} else {
					var typ, name, status string
					err = raw.QueryRowContext(ctx, blocked).Scan(&typ, &name, &status)
					for _, trx := range strings.Split(status, "---TRANSACTION ") {
						if strings.Contains(trx, "LOCK WAIT") && strings.Contains(trx, owner) {
							n++
						}
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-done:
					t.Fatalf("Put finished while b was locked: %v", err)
				case <-ctx.Done():
					t.Fatal("the Put never waited for b")
				default:
				}
			}
			// This closes the cycle; the database must abort the Put, not us.
			if _, err := tx.ExecContext(ctx, q(`UPDATE secrets SET value = ? WHERE owner = ? AND name = 'a'`), []byte("raw"), owner); err != nil {
				t.Fatalf("the other transaction was aborted, not the Put: %v", err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			// The Put, aborted, must have run again after our commit.
			if err := <-done; err != nil {
				t.Fatalf("Put in a deadlock: %v", err)
			}
			for _, n := range []string{"a", "b"} {
				if sec, err := s.Get(ctx, owner, n); err != nil || string(sec.Value) != "put" || sec.Version != 2 {
					t.Errorf("%s = %q version %d, %v; want put version 2", n, sec.Value, sec.Version, err)
				}
			}
			if sec, err := s.Get(ctx, owner, "f00"); err != nil || string(sec.Value) != "raw" {
				t.Errorf("the other transaction's write: %q, %v", sec.Value, err)
			}
		})
	}
}
