package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// follow answers every event q matches, page by page, and the calls it took.
func follow(t *testing.T, s storage.AuditLog, owner string, q storage.AuditQuery) ([]audit.Event, int) {
	t.Helper()
	var out []audit.Event
	for calls := 1; ; calls++ {
		p, err := s.Audit(context.Background(), owner, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		if p.Next == 0 {
			return out, calls
		}
		if calls > 100 {
			t.Fatalf("Audit(%+v): still a Next after %d calls", q, calls)
		}
		q.Before = p.Next
	}
}

// TestAuditUpgrade: a store written by the previous release (schema 3:
// events without audit_keys rows or totals)
// answers, once opened by this one, the right Usage.AuditBytes and finds
// its old events by key and by action. SQLite and PostgreSQL (in a schema
// of the test's own) go back to schema 3 for real; on the shared MySQL
// database one owner's rows are put back as schema 3 left them.
func TestAuditUpgrade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		uri := backendURI(t, backend)
		hard := backend != sqlstore.MySQL
		if backend == sqlstore.Postgres {
			uri = privateSchema(t, uri)
		}
		s, raw := openWithRaw(t, uri)
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := raw.ExecContext(ctx, rebindFor(backend, q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// Written as the previous release wrote: unsigned, one owner
		// with a usage record (it wrote a secret), one with none.
		writer, reader := storagetest.Unique("upg-w-"), storagetest.Unique("upg-r-")
		w := audit.Event{Time: time.Now(), Action: audit.Write, Keys: []string{"db"}, Actor: "owner", IP: "10.0.0.1", Status: 200}
		if _, err := s.Commit(ctx, storage.Commit{Owner: writer, Changes: []storage.Change{{Name: "db", Value: []byte("v"), CAS: storage.NoCAS}}, Event: &w}); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			events := []audit.Event{
				{Time: time.Now(), Action: audit.Read, Keys: []string{"db", fmt.Sprint("k", i%3)}, Actor: "node", IP: "10.0.0.2", Status: 200},
				{Time: time.Now(), Action: audit.List, Keys: []string{}, Actor: "node", IP: "10.0.0.2", Status: 200},
			}
			for _, o := range []string{writer, reader} {
				if err := s.AppendAudit(ctx, o, events); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.Close()
		if hard {
			exec(`DROP TABLE audit_keys`)
			exec(`ALTER TABLE audit_events DROP COLUMN total`)
		} else {
			exec(`DELETE FROM audit_keys WHERE owner IN (?, ?)`, writer, reader)
			exec(`UPDATE audit_events SET total = NULL WHERE owner IN (?, ?)`, writer, reader)
		}
		exec(`DELETE FROM quota_usage WHERE owner = ?`, reader)
		exec(`UPDATE meta SET value = ? WHERE `+map[bool]string{true: "`key`", false: `"key"`}[backend == sqlstore.MySQL]+` = ?`,
			[]byte("3"), "storage.schema_version")

		s = openURI(t, uri)
		// Every old event has its total: no append or Usage needs to
		// sum the log.
		var untotalled int
		if err := raw.QueryRowContext(ctx, rebindFor(backend, `SELECT COUNT(*) FROM audit_events WHERE owner IN (?, ?) AND total IS NULL`),
			writer, reader).Scan(&untotalled); err != nil || untotalled != 0 {
			t.Errorf("%d events without a total after the upgrade, %v", untotalled, err)
		}
		for _, owner := range []string{writer, reader} {
			log := storagetest.ReadLog(t, s, owner)
			u, err := s.Usage(ctx, owner)
			if err != nil || u.AuditBytes != audittest.LogSize(log) || u.AuditBytes == 0 {
				t.Errorf("%s: Usage.AuditBytes after the upgrade %d, %v; the log takes %d", owner, u.AuditBytes, err, audittest.LogSize(log))
			}
			got, _ := follow(t, s, owner, storage.AuditQuery{Limit: 7, Key: "k1"})
			if len(got) != 10 {
				t.Errorf("%s: key k1 finds %d old events, want 10", owner, len(got))
			}
			got, _ = follow(t, s, owner, storage.AuditQuery{Limit: 100, Action: audit.List})
			if len(got) != 30 {
				t.Errorf("%s: action list finds %d old events, want 30", owner, len(got))
			}
		}
		got, _ := follow(t, s, writer, storage.AuditQuery{Limit: 100, Key: "db", Action: audit.Write})
		if len(got) != 1 || got[0].Seq != 1 {
			t.Errorf("the old write by key and action: %+v", got)
		}
		// And the count goes on from there.
		if err := s.AppendAudit(ctx, reader, []audit.Event{{Time: time.Now(), Action: audit.Login, Actor: "owner"}}); err != nil {
			t.Fatal(err)
		}
		if u, err := s.Usage(ctx, reader); err != nil || u.AuditBytes != audittest.LogSize(storagetest.ReadLog(t, s, reader)) {
			t.Errorf("Usage.AuditBytes after an append %d, %v; want %d", u.AuditBytes, err, audittest.LogSize(storagetest.ReadLog(t, s, reader)))
		}
	})
}

// privateSchema is uri in a PostgreSQL schema of the test's own, dropped
// when it ends, so the test may take the tables back to an older schema
// without disturbing other tests on the database.
func privateSchema(t *testing.T, uri string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "upgrade_" + hex.EncodeToString(b)
	_, raw := openWithRaw(t, uri)
	if _, err := raw.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "search_path=" + schema
}

// TestAuditFilterBounded: in a log of 20,000 events, a key that matches
// nothing is answered in one call with Next = 0, reading a bounded number
// of rows (the database's own count: EXPLAIN ANALYZE on PostgreSQL, the
// handler counters on MySQL, the query plan on SQLite); a filter whose
// key matches every event and whose action matches none examines at most
// AuditScanMax of them per call.
func TestAuditFilterBounded(t *testing.T) {
	const n = 20_000
	forEachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		s, raw := openWithRaw(t, backendURI(t, backend))
		owner := storagetest.Unique("bound-")
		for start := 0; start < n; start += 1000 {
			batch := make([]audit.Event, 1000)
			for i := range batch {
				batch[i] = audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{"all", fmt.Sprint("k", (start+i)%7)}, Actor: "node", Status: 200}
			}
			if err := s.AppendAudit(ctx, owner, batch); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		p, err := s.Audit(ctx, owner, storage.AuditQuery{Limit: 1, Key: "does-not-exist"})
		took := time.Since(t0)
		if err != nil || len(p.Events) != 0 || p.Next != 0 {
			t.Fatalf("a key matching nothing: %d events, Next %d, %v", len(p.Events), p.Next, err)
		}
		t.Logf("%s: a key matching nothing in %d events: one call, %s", backend, n, took)

		// Key "all" matches all; no event is a login.
		q := storage.AuditQuery{Limit: 10, Key: "all", Action: audit.Login}
		p, err = s.Audit(ctx, owner, q)
		if err != nil || len(p.Events) != 0 || p.Next == 0 || n-p.Next+1 > storage.AuditScanMax {
			t.Fatalf("first call of a filter matching no candidate: %d events, Next %d, %v; want none and a Next within %d of seq %d",
				len(p.Events), p.Next, err, storage.AuditScanMax, n)
		}
		if got, calls := follow(t, s, owner, q); len(got) != 0 || calls > n/storage.AuditScanMax+1 {
			t.Errorf("following it: %d events in %d calls", len(got), calls)
		}

		query, kind := sqlstore.AuditTermQuery(s)
		for _, c := range []struct {
			key        string
			limit, max int64
		}{{"does-not-exist", 5001, 2}, {"all", 101, 2*101 + 2}} {
			args := []any{owner, kind, c.key, int64(math.MaxInt64), c.limit}
			rows := rowsExamined(t, backend, raw, query, args)
			if rows > c.max {
				t.Errorf("key %q, limit %d: %d rows examined, want at most %d", c.key, c.limit, rows, c.max)
			}
			t.Logf("%s: key %q, limit %d: %d rows examined", backend, c.key, c.limit, rows)
		}
	})
}

// rowsExamined runs query and answers how many rows the database read for
// it: on SQLite, 0 when the plan searches both tables by primary key (and
// fails t otherwise), as SQLite does not count.
func rowsExamined(t *testing.T, backend string, raw *sql.DB, query string, args []any) int64 {
	t.Helper()
	ctx := context.Background()
	switch backend {
	case sqlstore.SQLite:
		rows, err := raw.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		searches := 0
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN") || strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("plan %q: a scan or a sort", plan)
			}
			if strings.HasPrefix(d, "SEARCH") && (strings.Contains(d, "PRIMARY KEY") || strings.Contains(d, "INDEX")) {
				searches++
			}
		}
		if searches != 2 {
			t.Errorf("plan %q: want both tables searched by key", plan)
		}
		return 0
	case sqlstore.Postgres:
		var out []byte
		if err := raw.QueryRowContext(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+query, args...).Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("EXPLAIN: %v", err)
		}
		// The rows each scan of a table read (kept, or dropped by a
		// filter), over all its loops.
		var total float64
		var walk func(node map[string]any)
		walk = func(node map[string]any) {
			if node["Node Type"] == "Seq Scan" {
				t.Errorf("a sequential scan of %v", node["Relation Name"])
			}
			if _, ok := node["Relation Name"]; ok {
				loops, _ := node["Actual Loops"].(float64)
				for _, k := range []string{"Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck"} {
					v, _ := node[k].(float64)
					total += v * max(loops, 1)
				}
			}
			children, _ := node["Plans"].([]any)
			for _, c := range children {
				walk(c.(map[string]any))
			}
		}
		walk(plans[0].Plan)
		return int64(total)
	default:
		conn, err := raw.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `FLUSH STATUS`); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		srows, err := conn.QueryContext(ctx, `SHOW SESSION STATUS LIKE 'Handler_read%'`)
		if err != nil {
			t.Fatal(err)
		}
		defer srows.Close()
		var total int64
		for srows.Next() {
			var name string
			var v int64
			if err := srows.Scan(&name, &v); err != nil {
				t.Fatal(err)
			}
			total += v
		}
		return total
	}
}

// TestAuditQuotaTrimAtomic: two stores on one database (two replicas)
// append concurrently to one owner's log under a small audit quota, so
// the oldest events are trimmed again and again; every read of the whole
// log in one statement meanwhile verifies, signed, as does the log at the
// end, and its bytes are what Usage counts, under the quota.
func TestAuditQuotaTrimAtomic(t *testing.T) {
	const quota = 8 << 10
	forEachBackend(t, func(t *testing.T, backend string) {
		uri := backendURI(t, backend)
		a, b := openURI(t, uri), openURI(t, uri)
		for _, s := range []*sqlstore.Store{a, b} {
			s.SetQuota(storage.Quota{AuditBytes: quota})
		}
		ctx, keys := audittest.SignedContext(t, "sqlstore audit test signer")
		owner := storagetest.Unique("trim-")
		var wg sync.WaitGroup
		done := make(chan struct{})
		errs := make(chan error, 100)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*sqlstore.Store{a, b}[w%2]
				for i := range 40 {
					events := make([]audit.Event, 1+i%3)
					for j := range events {
						events[j] = audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{fmt.Sprintf("w%d-%d-%d", w, i, j)}, Actor: "node", Status: 200}
					}
					if err := s.AppendAudit(ctx, owner, events); err != nil {
						errs <- fmt.Errorf("append refused: %w", err)
						return
					}
				}
			}()
		}
		var reads sync.WaitGroup
		verified := make([]int, 2)
		for r := range 2 {
			reads.Add(1)
			go func() {
				defer reads.Done()
				s := []*sqlstore.Store{a, b}[r]
				for {
					select {
					case <-done:
						return
					default:
					}
					p, err := s.Audit(context.Background(), owner, storage.AuditQuery{Limit: storage.AuditPageMax})
					if err != nil {
						errs <- err
						return
					}
					if p.Next != 0 {
						errs <- fmt.Errorf("the whole log is more than one page (%d events)", len(p.Events))
						return
					}
					log := slices.Clone(p.Events)
					slices.Reverse(log)
					if len(log) == 0 {
						continue
					}
					if _, err := audit.VerifySigned(log, owner, keys); err != nil {
						errs <- fmt.Errorf("a reader saw a log that does not verify: %w", err)
						return
					}
					verified[r]++
				}
			}()
		}
		wg.Wait()
		close(done)
		reads.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		log := storagetest.ReadLog(t, a, owner)
		if _, err := audit.VerifySigned(log, owner, keys); err != nil {
			t.Fatal(err)
		}
		trims := 0
		for _, e := range log {
			if e.Action == audit.Trim && e.Trimmed.Reason == audit.TrimQuota {
				trims++
			}
		}
		u, err := b.Usage(context.Background(), owner)
		if err != nil || u.AuditBytes != audittest.LogSize(log) || u.AuditBytes > quota {
			t.Errorf("Usage.AuditBytes %d, %v; the log takes %d, the quota is %d", u.AuditBytes, err, audittest.LogSize(log), quota)
		}
		if log[0].Seq == 1 || trims == 0 {
			t.Errorf("nothing trimmed: the log starts at %d", log[0].Seq)
		}
		// 4 writers × 40 appends of 1+i%3 events (79 each), and the trims.
		if want := uint64(4 * (14*1 + 13*2 + 13*3)); log[len(log)-1].Seq < want {
			t.Errorf("the newest seq is %d, fewer than the %d events appended", log[len(log)-1].Seq, want)
		}
		t.Logf("%s: %d reads verified while trimming; the log ends at seq %d with %d events, %d bytes", backend, verified[0]+verified[1], log[len(log)-1].Seq, len(log), u.AuditBytes)
	})
}
