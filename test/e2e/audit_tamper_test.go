package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	storagestack "github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// The tests below play the operator of the database: someone who can edit
// the store (the sqlite file, the PostgreSQL tables) but does not hold the
// master key. Whatever they do to an owner's audit log, `audit verify
// --head` with a head the owner noted before must exit non-zero; what the
// server itself removed (retention) is a notice, and a rekey keeps the
// log verifiable with the new key alone. They need a backend that signs
// every append (audit.SignHead) and writes audit.RetentionTrim events.

// auditVerifyRun runs `audit verify [args]` as w against endpoint.
func auditVerifyRun(t *testing.T, w authtest.Wallet, endpoint string, args ...string) (int, string, string) {
	t.Helper()
	home := t.TempDir()
	kp := make([]int, len(w.Key))
	for i, b := range w.Key {
		kp[i] = int(b)
	}
	raw, _ := json.Marshal(kp)
	file := filepath.Join(home, "id.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return cli(t, map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"NOSANA_SECRETS_KEYPAIR": file, "NOSANA_SECRETS_ENDPOINT": endpoint}, nil, append([]string{"audit", "verify"}, args...)...)
}

var printedHead = regexp.MustCompile(`(?m)^head (\d+):([0-9a-f]{64})$`)

// tamperStore is a new, empty store of backend (sqlite or postgres) that
// this test alone uses.
func tamperStore(t *testing.T, backend string) string {
	t.Helper()
	if backend == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "tamper.sqlite")
	}
	uri, name := scratchName(t, "postgres", "tamper")
	runTool(t, nil, "psql", "-q", "-v", "ON_ERROR_STOP=1", storagetest.URI(t, "postgres"),
		"-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)", "-c", "CREATE DATABASE "+name)
	return uri
}

// noteHead fills w's log through the server on uri (writes, reads, a
// delete), notes its head with `audit verify`, adds more events after a
// pause (so a retention cut falls between them), and stops the server.
// It answers the noted head.
func noteHead(t *testing.T, env map[string]string, w authtest.Wallet) audit.Head {
	t.Helper()
	srv, a, tok := startSignedIn(t, env, w)
	for _, v := range []string{`"one"`, `"two"`} {
		a.expect(a.do("PUT", "/v1/secrets/DB", tok, map[string]any{"value": json.RawMessage(v)}), 200, "", "")
	}
	a.expect(a.do("GET", "/secrets/DB", tok, nil), 200, "", "")
	code, out, stderr := auditVerifyRun(t, w, srv.URL)
	m := printedHead.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("audit verify of an untouched log: exit %d\n%s%s", code, out, stderr)
	}
	seq, _ := strconv.ParseUint(m[1], 10, 64)
	noted := audit.Head{Seq: seq, Hash: m[2]}
	time.Sleep(1100 * time.Millisecond)
	for _, k := range []string{"A", "B", "C"} {
		a.expect(a.do("PUT", "/v1/secrets/"+k, tok, map[string]any{"value": "v"}), 200, "", "")
	}
	a.expect(a.do("GET", "/secrets/A", tok, nil), 200, "", "")
	a.expect(a.do("DELETE", "/v1/secrets/B", tok, nil), 200, "", "")
	a.expect(a.do("PUT", "/v1/secrets/D", tok, map[string]any{"value": "v"}), 200, "", "")
	if err := srv.Stop(); err != nil { // stores the batched reads
		t.Fatal(err)
	}
	return noted
}

// operator is a connection to the store's database, as its operator has.
type operator struct {
	t     *testing.T
	db    *sql.DB
	pg    bool
	owner string
}

func openOperator(t *testing.T, uri, owner string) *operator {
	t.Helper()
	var db *sql.DB
	var err error
	pg := strings.HasPrefix(uri, "postgres")
	if pg {
		db, err = sql.Open("pgx", uri)
	} else {
		db, err = sql.Open("sqlite", strings.TrimPrefix(uri, "sqlite://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &operator{t: t, db: db, pg: pg, owner: owner}
}

// q numbers the placeholders for PostgreSQL.
func (o *operator) q(query string) string {
	if !o.pg {
		return query
	}
	n := 0
	return regexp.MustCompile(`\?`).ReplaceAllStringFunc(query, func(string) string { n++; return "$" + strconv.Itoa(n) })
}

func (o *operator) exec(query string, args ...any) {
	o.t.Helper()
	if _, err := o.db.Exec(o.q(query), args...); err != nil {
		o.t.Fatalf("%s: %v", query, err)
	}
}

// row is one stored event with its time column as the store wrote it.
type row struct {
	seq  uint64
	time any
	ev   audit.Event
}

func (o *operator) rows() []row {
	o.t.Helper()
	rs, err := o.db.Query(o.q(`SELECT seq, time, data FROM audit_events WHERE owner = ? ORDER BY seq`), o.owner)
	if err != nil {
		o.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		var data []byte
		if err := rs.Scan(&r.seq, &r.time, &data); err != nil {
			o.t.Fatal(err)
		}
		if err := json.Unmarshal(data, &r.ev); err != nil {
			o.t.Fatal(err)
		}
		out = append(out, r)
	}
	if len(out) < 8 {
		o.t.Fatalf("the log holds %d events", len(out))
	}
	return out
}

// put stores r at r.seq (replacing what is there).
func (o *operator) put(r row) {
	o.t.Helper()
	data, _ := json.Marshal(r.ev)
	o.exec(`DELETE FROM audit_events WHERE owner = ? AND seq = ?`, o.owner, r.seq)
	o.exec(`INSERT INTO audit_events (owner, seq, time, hash, data) VALUES (?, ?, ?, ?, ?)`, o.owner, r.seq, r.time, r.ev.Hash, data)
}

// relink renumbers rows from i on after rows[i-1] and recomputes their
// hashes, leaving the signatures as they were (it cannot make new ones),
// and stores them.
func (o *operator) relink(rows []row, i int) {
	o.t.Helper()
	for ; i < len(rows); i++ {
		r := rows[i]
		r.seq = rows[i-1].seq + 1
		r.ev.Seq, r.ev.PrevHash = r.seq, rows[i-1].ev.Hash
		r.ev.Hash, _ = audit.ComputeHash(r.ev)
		rows[i] = r
		o.put(r)
	}
}

// after is the index of the first event after the noted head.
func after(rows []row, noted audit.Head) int {
	for i, r := range rows {
		if r.seq > noted.Seq {
			return i
		}
	}
	return len(rows)
}

func TestAuditTamperedByTheStore(t *testing.T) {
	attacks := []struct {
		name string
		edit func(o *operator, noted audit.Head)
		want string // in audit verify's one line
	}{
		{"prefix deleted with a forged trim", func(o *operator, noted audit.Head) {
			rows := o.rows()
			cut := rows[after(rows, noted)+1] // the noted head and the event after it go
			last := rows[len(rows)-1]
			o.exec(`DELETE FROM audit_events WHERE owner = ? AND seq < ?`, o.owner, cut.seq)
			now := time.Now()
			trim, _ := audit.Link(audit.Head{Seq: last.seq, Hash: last.ev.Hash},
				audit.RetentionTrim(now, cut.seq, cut.ev.PrevHash, now.Add(-90*24*time.Hour), 90*24*time.Hour))
			o.put(row{seq: trim.Seq, time: last.time, ev: trim})
		}, "carries no valid signature by the server"},
		{"event rewritten and later hashes recomputed", func(o *operator, noted audit.Head) {
			rows := o.rows()
			i := after(rows, noted) + 1
			rows[i].ev.Keys = []string{"NOTHING_TO_SEE"}
			rows[i].ev.Hash, _ = audit.ComputeHash(rows[i].ev)
			o.put(rows[i])
			o.relink(rows, i+1)
		}, "signature does not match"},
		{"middle event dropped and the rest relinked", func(o *operator, noted audit.Head) {
			rows := o.rows()
			i := after(rows, noted) + 1
			o.exec(`DELETE FROM audit_events WHERE owner = ? AND seq >= ?`, o.owner, rows[i].seq)
			o.relink(append(rows[:i:i], rows[i+1:]...), i)
		}, "signature does not match"},
		{"two events swapped", func(o *operator, noted audit.Head) {
			rows := o.rows()
			i := after(rows, noted) + 1
			rows[i], rows[i+1] = rows[i+1], rows[i]
			o.relink(rows, i)
		}, "signature does not match"},
		// Rolled back to before the noted head (its index rows too): the
		// owner's next sign-in takes the noted seq with another hash, or the
		// log now ends on an event no signature vouches for (the middle of
		// an append) — either way verify says the log was tampered with.
		{"rolled back past the noted head", func(o *operator, noted audit.Head) {
			o.exec(`DELETE FROM audit_events WHERE owner = ? AND seq >= ?`, o.owner, noted.Seq)
			o.exec(`DELETE FROM audit_keys WHERE owner = ? AND seq >= ?`, o.owner, noted.Seq)
		}, "the log was rewritten|carry no valid signature|newer events were removed|recorded a break"},
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			for _, at := range attacks {
				t.Run(at.name, func(t *testing.T) {
					uri := tamperStore(t, backend)
					env := testserver.Config(uri)
					w := authtest.NewWallet()
					noted := noteHead(t, env, w)
					at.edit(openOperator(t, uri, w.Addr), noted)
					srv := testserver.Start(t, env)
					code, out, stderr := auditVerifyRun(t, w, srv.URL, "--head", fmt.Sprintf("%d:%s", noted.Seq, noted.Hash))
					if code != 1 || !containsAny(stderr, strings.Split(at.want, "|")) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
						t.Errorf("audit verify --head of a log the store's operator edited: exit %d, want 1 and one line with %q\n%s%s",
							code, at.want, out, stderr)
					}
				})
			}
		})
	}
}

// trimAt removes, with the master key, w's events older than the first
// one written more than a second after the noted head, as the server's
// hourly purge does with AUDIT_RETENTION (seal.Store.TrimAudit), and
// answers the first event it kept.
func trimAt(t *testing.T, uri, masterKey string, owner string, noted audit.Head) audit.Event {
	t.Helper()
	ctx := context.Background()
	keys := mustKeys(t, masterKey)
	store, err := storagestack.Open(ctx, uri, storagestack.Options{MasterKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log, err := storage.ReadAudit(ctx, store, owner)
	if err != nil {
		t.Fatal(err)
	}
	var notedAt time.Time
	for _, e := range log {
		if e.Seq == noted.Seq {
			notedAt = e.Time
		}
		if !notedAt.IsZero() && e.Time.After(notedAt.Add(time.Second)) {
			if err := store.TrimAudit(ctx, e.Time); err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	t.Fatalf("no event a second after the noted head in %d events", len(log))
	return audit.Event{}
}

// TestAuditRetentionIsANotice: a noted head that the server's retention
// removed is reported, and verify passes; a noted head equal to the first
// event retention kept but with another hash is a rewrite (finding 7).
func TestAuditRetentionIsANotice(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			uri := tamperStore(t, backend)
			env := testserver.Config(uri)
			env["AUDIT_RETENTION"] = "1s"
			w := authtest.NewWallet()
			noted := noteHead(t, env, w)
			first := trimAt(t, uri, env["MASTER_KEY"], w.Addr, noted)
			srv := testserver.Start(t, env)
			code, out, stderr := auditVerifyRun(t, w, srv.URL, "--head", fmt.Sprintf("%d:%s", noted.Seq, noted.Hash))
			if code != 0 || !strings.Contains(stderr, "removed by retention") || !printedHead.MatchString(out) {
				t.Errorf("a noted head removed by retention: exit %d\n%s%s", code, out, stderr)
			}
			if code, out, stderr := auditVerifyRun(t, w, srv.URL, "--head", fmt.Sprintf("%d:%s", first.Seq, first.Hash)); code != 0 || stderr != "" {
				t.Errorf("the first kept event as noted: exit %d\n%s%s", code, out, stderr)
			}
			forged := fmt.Sprintf("%d:%s", first.Seq, strings.Repeat("0", 64))
			if code, out, stderr := auditVerifyRun(t, w, srv.URL, "--head", forged); code != 1 || !strings.Contains(stderr, "rewritten") {
				t.Errorf("a noted head at the first kept event with another hash: exit %d\n%s%s", code, out, stderr)
			}
		})
	}
}

// TestAuditVerifyAfterRekey: a log trimmed while the old master key
// signed, rekeyed, then served with the new key alone, still verifies
// with only the new key's public half pinned: the rekey's event, signed
// with the new key, vouches for the old one.
func TestAuditVerifyAfterRekey(t *testing.T) {
	uri := tamperStore(t, "sqlite")
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	env := testserver.Config(uri)
	env["MASTER_KEY"] = oldKey
	w := authtest.NewWallet()
	noted := noteHead(t, env, w)
	trimAt(t, uri, oldKey, w.Addr, noted) // the trim at the log's start is signed with the old key

	env["MASTER_KEY"] = newKey + "," + oldKey
	code, _, stderr := cli(t, env, nil, "rekey")
	if code != 0 || !strings.Contains(stderr, "1 audit logs now vouch for the retired signing keys") {
		t.Fatalf("rekey: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cli(t, env, nil, "rekey"); code != 0 || !strings.Contains(stderr, "0 audit logs now vouch for the retired signing keys (1 already did)") {
		t.Errorf("rekey again: exit %d\n%s", code, stderr)
	}

	env["MASTER_KEY"] = newKey
	ring := mustRing(t, newKey)
	signer, err := seal.AuditSigner(ring, "")
	if err != nil {
		t.Fatal(err)
	}
	pinned := signer.PublicKey().String()
	srv := testserver.Start(t, env)
	code, out, stderr := auditVerifyRun(t, w, srv.URL, "--key", pinned, "--head", fmt.Sprintf("%d:%s", noted.Seq, noted.Hash))
	if code != 0 || !strings.Contains(out, "by key "+signer.PublicKey().ID) || !strings.Contains(stderr, "removed by retention") {
		t.Errorf("audit verify with the new key after rekey: exit %d\n%s%s", code, out, stderr)
	}
	// The old key's public half is not enough any more: the newest events are the new key's.
	oldRing := mustRing(t, oldKey)
	oldSigner, _ := seal.AuditSigner(oldRing, "")
	if code, out, stderr := auditVerifyRun(t, w, srv.URL, "--key", oldSigner.PublicKey().String()); code != 1 || !strings.Contains(stderr, "not among the keys") {
		t.Errorf("audit verify pinned to the retired key: exit %d\n%s%s", code, out, stderr)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
