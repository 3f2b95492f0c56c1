package e2e_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// emptyPostgres creates a fresh database on the test PostgreSQL server and
// returns its URI; it is dropped when the test ends.
func emptyPostgres(t *testing.T) string {
	t.Helper()
	base := storagetest.URI(t, "postgres")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", storagetest.EnvVar("postgres"), err)
	}
	name := storagetest.Unique("nosana_race_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestKeyCheckRace: two servers with different master keys start at once
// on one empty PostgreSQL database. Exactly one starts; the other refuses,
// so no store ever holds values sealed with two unrelated keys.
func TestKeyCheckRace(t *testing.T) {
	for round := range 3 {
		uri := emptyPostgres(t)
		var wg sync.WaitGroup
		servers := make([]*testserver.Server, 2)
		errs := make([]error, 2)
		for i := range servers {
			cfg := testserver.Config(uri)
			cfg["MASTER_KEY"] = seal.NewKey()
			wg.Add(1)
			go func() {
				defer wg.Done()
				servers[i], errs[i] = testserver.TryStart(t, cfg)
			}()
		}
		wg.Wait()
		started := 0
		for i, s := range servers {
			if s != nil {
				started++
				continue
			}
			if !strings.Contains(errs[i].Error(), "master key does not open this store") {
				t.Errorf("round %d: server %d failed for another reason: %v", round, i, errs[i])
			}
		}
		if started != 1 {
			t.Fatalf("round %d: %d of 2 servers with different keys started on one empty store", round, started)
		}
		for _, s := range servers {
			if s != nil {
				if err := s.Stop(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
