package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestAuditStrippedHeadNotVouched: the operator of the store, without the
// master key, rewrites the newest event of an owner's log, strips its
// signature and fixes the head pointers so the next append links onto the
// forgery. The server must not vouch for it: after one more write through
// the server, `audit verify` exits 1 on every backend (the server recorded
// a break), where before it signed the forged head and verify passed.
func TestAuditStrippedHeadNotVouched(t *testing.T) {
	for _, b := range []struct {
		name string
		uri  func(t *testing.T) string
	}{
		{"sqlite", backends[0].uri},
		{"postgres", backends[1].uri},
		{"mysql", backends[2].uri},
		{"redis", func(t *testing.T) string { return redisOwn(t, "strip") }},
		{"mongodb", backends[5].uri},
	} {
		t.Run(b.name, func(t *testing.T) {
			uri := b.uri(t)
			env := testserver.Config(uri)
			w := authtest.NewWallet()
			srv, a, tok := startSignedIn(t, env, w)
			for _, k := range []string{"A", "B"} {
				a.expect(a.do("PUT", "/v1/secrets/"+k, tok, map[string]any{"value": "v"}), 200, "", "")
			}
			if code, out, stderr := auditVerifyRun(t, w, srv.URL); code != 0 {
				t.Fatalf("audit verify of an untouched log: exit %d\n%s%s", code, out, stderr)
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}

			forgeNewest(t, b.name, uri, w.Addr)

			srv, a, tok = startSignedIn(t, env, w)
			a.expect(a.do("PUT", "/v1/secrets/C", tok, map[string]any{"value": "v"}), 200, "", "")
			code, out, stderr := auditVerifyRun(t, w, srv.URL)
			if code != 1 || !strings.Contains(stderr, "recorded a break") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("audit verify after the store's operator forged the head and the server wrote on: exit %d, want 1 and one line naming the break\n%s%s",
					code, out, stderr)
			}
		})
	}
}

// forgeNewest rewrites the newest audit event of owner in the store at
// uri as its operator can: another key name, no signature, its hash
// recomputed, and the backend's head pointer moved to the new hash.
func forgeNewest(t *testing.T, backend, uri, owner string) {
	t.Helper()
	ctx := context.Background()
	forge := func(data []byte) (audit.Event, []byte) {
		t.Helper()
		var e audit.Event
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Sig == "" {
			t.Fatalf("the newest event (seq %d, %s) carries no signature to strip", e.Seq, e.Action)
		}
		e.Keys, e.Sig, e.SigKey = []string{"FORGED"}, "", ""
		e.Hash, _ = audit.ComputeHash(e)
		out, _ := json.Marshal(e)
		return e, out
	}
	switch backend {
	case "sqlite", "postgres", "mysql":
		driver, dsn := "sqlite", strings.TrimPrefix(uri, "sqlite://")
		q := func(s string) string { return s }
		switch backend {
		case "postgres":
			driver, dsn = "pgx", uri
			q = func(s string) string {
				n := 0
				return regexp.MustCompile(`\?`).ReplaceAllStringFunc(s, func(string) string { n++; return "$" + strconv.Itoa(n) })
			}
		case "mysql":
			u, err := url.Parse(uri)
			if err != nil {
				t.Fatal(err)
			}
			cfg := mysql.NewConfig()
			cfg.User, cfg.Net, cfg.Addr, cfg.DBName = u.User.Username(), "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
			cfg.Passwd, _ = u.User.Password()
			driver, dsn = "mysql", cfg.FormatDSN()
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var seq int64
		var data []byte
		if err := db.QueryRowContext(ctx, q(`SELECT seq, data FROM audit_events WHERE owner = ? ORDER BY seq DESC LIMIT 1`), owner).Scan(&seq, &data); err != nil {
			t.Fatal(err)
		}
		e, forged := forge(data)
		if _, err := db.ExecContext(ctx, q(`UPDATE audit_events SET data = ?, hash = ? WHERE owner = ? AND seq = ?`), forged, e.Hash, owner, seq); err != nil {
			t.Fatal(err)
		}
	case "redis":
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		prefix := u.Query().Get("key_prefix")
		q := u.Query()
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
		c := redisClient(t, u.String())
		key := prefix + "{" + owner + "}:"
		zs, err := c.ZRangeWithScores(ctx, key+"audit", -1, -1).Result()
		if err != nil || len(zs) != 1 {
			t.Fatalf("the newest audit event in redis: %v, %v", zs, err)
		}
		e, forged := forge([]byte(zs[0].Member.(string)))
		if err := c.ZRem(ctx, key+"audit", zs[0].Member).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.ZAdd(ctx, key+"audit", redis.Z{Score: zs[0].Score, Member: string(forged)}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, key+"ahead", fmt.Sprintf("%d:%s", e.Seq, e.Hash), 0).Err(); err != nil {
			t.Fatal(err)
		}
	case "mongodb":
		db := mongoStore(t, uri)
		var doc struct {
			ID   string `bson:"_id"`
			Data []byte `bson:"data"`
		}
		err := db.Collection("audit").FindOne(ctx, bson.D{{Key: "owner", Value: owner}}, options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})).Decode(&doc)
		if err != nil {
			t.Fatal(err)
		}
		e, forged := forge(doc.Data)
		if _, err := db.Collection("audit").UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: forged}, {Key: "hash", Value: e.Hash}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection("audit_heads").UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(e.Seq)}, {Key: "hash", Value: e.Hash}}}}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no operator for %s", backend)
	}
}
