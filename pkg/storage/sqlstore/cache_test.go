package sqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// TestSQLitePageCacheBounded: every connection of the pool, not only the
// first, has the small page cache that keeps parallel audit scans within
// a few MiB of idle (bench/auditrss): SQLite's default is 2 MiB each.
func TestSQLitePageCacheBounded(t *testing.T) {
	s := openURI(t, sqliteURI(t))
	db := sqlstore.SQLDB(s)
	ctx := context.Background()
	// Hold several connections at once, so the pool opens more than one.
	var wg, ready sync.WaitGroup
	got := make([]int, 6)
	hold := make(chan struct{})
	for i := range got {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Error(err)
				ready.Done()
				return
			}
			defer conn.Close()
			if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&got[i]); err != nil {
				t.Error(err)
			}
			ready.Done()
			<-hold
		}()
	}
	ready.Wait() // six connections open at once
	close(hold)
	wg.Wait()
	for i, n := range got {
		if n != -256 {
			t.Errorf("connection %d: cache_size %d, want -256 (256 KiB)", i, n)
		}
	}
}
