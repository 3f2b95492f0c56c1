package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// rawRecords reads what the backend at uri holds for owner, bypassing the
// server: every stored byte of that owner's rows, hashes or documents.
func rawRecords(t *testing.T, backend, uri, owner string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch backend {
	case "sqlite", "postgres", "mysql":
		cfg, err := sqlstore.ParseURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx", "mysql": "mysql"}[backend]
		db, err := sql.Open(driver, cfg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		q := "SELECT name, value FROM secrets WHERE owner = ?"
		if backend == "postgres" {
			q = strings.Replace(q, "?", "$1", 1)
		}
		rows, err := db.QueryContext(ctx, q, owner)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][]byte
		for rows.Next() {
			var name, value []byte
			if err := rows.Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			out = append(out, append(name, value...))
		}
		return out
	case "redis", "redis_cluster":
		cfg, err := redisstore.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		c := redisstore.NewClient(cfg)
		defer c.Close()
		// A cluster's keys are spread over its primaries: SCAN each.
		var keys []string
		var mu sync.Mutex
		scan := func(ctx context.Context, n redis.Cmdable) error {
			iter := n.Scan(ctx, 0, cfg.Prefix+"*"+owner+"*", 100).Iterator()
			for iter.Next(ctx) {
				mu.Lock()
				keys = append(keys, iter.Val())
				mu.Unlock()
			}
			return iter.Err()
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
		} else {
			err = scan(ctx, c)
		}
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, key := range keys {
			switch c.Type(ctx, key).Val() {
			case "hash":
				for f, v := range c.HGetAll(ctx, key).Val() {
					out = append(out, []byte(f+v))
				}
			case "zset":
				for _, m := range c.ZRange(ctx, key, 0, -1).Val() {
					out = append(out, []byte(m))
				}
			case "string":
				out = append(out, []byte(c.Get(ctx, key).Val()))
			}
		}
		return out
	case "mongodb":
		db := mongoStore(t, uri)
		var out [][]byte
		for _, coll := range []string{"secrets", "versions", "audit"} { // current, older versions, audit log
			cur, err := db.Collection(coll).Find(ctx, bson.M{"owner": owner})
			if err != nil {
				t.Fatal(err)
			}
			for cur.Next(ctx) {
				out = append(out, bytes.Clone(cur.Current))
			}
			cur.Close(ctx)
		}
		return out
	}
	t.Fatalf("no raw reader for %s", backend)
	return nil
}

// TestNoPlaintextAtRest stores recognisable values through the API and
// then reads the backend's raw rows, keys and documents: the values are not
// there in clear text, and each raw record still opens through the API.
func TestNoPlaintextAtRest(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			uri := b.uri(t)
			srv := testserver.Start(t, testserver.Config(uri))
			a := api{t, srv.URL}
			w := authtest.NewWallet()
			tok := a.login(w)
			marker := "PLAINTEXT-MARKER-" + w.Addr[:8]
			body := `{"secrets":{"s":"` + marker + `","o":{"nested":"` + marker + `"},"bin":"` + strings.Repeat(marker, 50) + `"}}`
			a.expect(a.do("POST", "/secrets", tok, body), 200, "", "")

			recs := rawRecords(t, b.name, uri, w.Addr)
			if len(recs) < 3 {
				t.Fatalf("found %d raw records of the owner; the reader looks in the wrong place", len(recs))
			}
			for _, r := range recs {
				if bytes.Contains(r, []byte(marker)) || bytes.Contains(r, []byte("PLAINTEXT-MARKER")) {
					t.Fatalf("a value is stored in clear text: %.80q", r)
				}
			}
			if r := a.do("GET", "/secrets/s", tok, nil); string(r.body) != `"`+marker+`"` {
				t.Errorf("read back: %s", r.body)
			}
		})
	}
}
