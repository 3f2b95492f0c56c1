package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// auditMigration (schema version 4) indexes the audit logs and counts
// their bytes (issue 19). audit_keys holds one row per (owner, term, seq):
// the event's action (kind termAction) and each name it lists (kind
// termKey), so a filtered query reads the matching events in seq order
// from its primary key, whatever the log holds besides.
//
// audit_events.total is the bytes (audit.StoredSize: the length of data)
// of the owner's log up to and including the event, trimmed events
// included: what the log keeps is the newest event's total less the
// total before the oldest kept one, two rows read by primary key. An
// append writes it with its rows and a trim needs no count of what it
// removed, so no usage row is updated for the audit log, and every
// replica reads the same number.
//
// The statements create the table; upgradeAudit adds the column and
// fills both from the events already stored.
var auditMigration = map[string][]string{
	SQLite: {`CREATE TABLE IF NOT EXISTS audit_keys (
		owner TEXT NOT NULL,
		kind INTEGER NOT NULL,
		name TEXT NOT NULL,
		seq INTEGER NOT NULL,
		PRIMARY KEY (owner, kind, name, seq)) WITHOUT ROWID`},
	Postgres: {`CREATE TABLE IF NOT EXISTS audit_keys (
		owner text COLLATE "C" NOT NULL,
		kind smallint NOT NULL,
		name text COLLATE "C" NOT NULL,
		seq bigint NOT NULL,
		PRIMARY KEY (owner, kind, name, seq))`},
	MySQL: {"CREATE TABLE IF NOT EXISTS audit_keys (" +
		"owner VARBINARY(512) NOT NULL," +
		"kind SMALLINT NOT NULL," +
		"name VARBINARY(512) NOT NULL," +
		"seq BIGINT NOT NULL," +
		"PRIMARY KEY (owner, kind, name, seq)" +
		") ENGINE=InnoDB"},
}

// auditTermSQL reads the candidates of a Key or Action filter: the events
// of one (owner, kind, name) below a seq, newest first, from the primary
// key of audit_keys.
const auditTermSQL = `SELECT e.seq, e.data FROM audit_keys k JOIN audit_events e ON e.owner = k.owner AND e.seq = k.seq
	WHERE k.owner = ? AND k.kind = ? AND k.name = ? AND k.seq < ? ORDER BY k.seq DESC LIMIT ?`

// The kinds of audit_keys rows.
const (
	termAction = 0
	termKey    = 1
)

// upgradeAudit is the rest of schema version 4: every stored event gets
// its total and its index rows. It runs again whole if it died half-way.
func upgradeAudit(ctx context.Context, s *Store, db execer) error {
	var probe sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT total FROM audit_events WHERE 1 = 0`).Scan(&probe)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		// No such column yet (MySQL has no ADD COLUMN IF NOT EXISTS).
		if _, err := db.ExecContext(ctx, `ALTER TABLE audit_events ADD COLUMN total BIGINT`); err != nil {
			return fmt.Errorf("adding audit_events.total: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, totalsBackfill[s.dialect]); err != nil {
		return fmt.Errorf("counting audit bytes: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_keys`); err != nil {
		return err
	}
	type row struct {
		owner string
		seq   int64
		data  []byte
	}
	var last row
	for n := 0; ; n++ {
		var rows *sql.Rows
		if n == 0 {
			rows, err = db.QueryContext(ctx, s.rebind(`SELECT owner, seq, data FROM audit_events ORDER BY owner, seq LIMIT ?`), upgradePage)
		} else {
			rows, err = db.QueryContext(ctx, s.rebind(`SELECT owner, seq, data FROM audit_events
				WHERE owner > ? OR (owner = ? AND seq > ?) ORDER BY owner, seq LIMIT ?`), last.owner, last.owner, last.seq, upgradePage)
		}
		if err != nil {
			return fmt.Errorf("indexing the audit logs: %w", err)
		}
		// The page is read whole before writing: one connection.
		page, err := readRows(rows, func(rows *sql.Rows) (r row, err error) {
			return r, rows.Scan(&r.owner, &r.seq, &r.data)
		})
		if err != nil {
			return err
		}
		var args []any
		for _, r := range page {
			var e struct {
				Action audit.Action `json:"action"`
				Keys   []string     `json:"keys"`
			}
			if err := json.Unmarshal(r.data, &e); err != nil {
				continue // not an event: nothing a filter could find
			}
			args = appendTerms(args, r.owner, r.seq, e.Action, e.Keys)
		}
		if err := s.insertMany(ctx, db, insKeys, args, false); err != nil {
			return fmt.Errorf("indexing the audit logs: %w", err)
		}
		if len(page) < upgradePage {
			return nil
		}
		last = page[len(page)-1]
	}
}

// totalsBackfill sets every event's total: a running sum over its
// owner's log (window functions: SQLite 3.25, PostgreSQL, MySQL 8.0,
// MariaDB 10.2).
var totalsBackfill = map[string]string{
	SQLite: `UPDATE audit_events SET total = w.t FROM
		(SELECT owner, seq, SUM(LENGTH(data)) OVER (PARTITION BY owner ORDER BY seq) AS t FROM audit_events) AS w
		WHERE audit_events.owner = w.owner AND audit_events.seq = w.seq`,
	Postgres: `UPDATE audit_events a SET total = w.t FROM
		(SELECT owner, seq, SUM(LENGTH(data)) OVER (PARTITION BY owner ORDER BY seq) AS t FROM audit_events) w
		WHERE a.owner = w.owner AND a.seq = w.seq`,
	MySQL: `UPDATE audit_events a JOIN
		(SELECT owner, seq, SUM(LENGTH(data)) OVER (PARTITION BY owner ORDER BY seq) AS t FROM audit_events) w
		ON a.owner = w.owner AND a.seq = w.seq SET a.total = w.t`,
}

const upgradePage = 500

// indexable is the form under which audit_keys holds a name listed by an
// event: the name as the event's JSON gives it back (an invalid UTF-8
// byte reads back as U+FFFD), and false for a name no query can ask for
// (storage.CheckName: Checked answers those without a store call).
func indexable(k string) (string, bool) {
	if !utf8.ValidString(k) {
		var b strings.Builder
		for i := 0; i < len(k); {
			r, n := utf8.DecodeRuneInString(k[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteString("\uFFFD")
			} else {
				b.WriteString(k[i : i+n])
			}
			i += n
		}
		k = b.String()
	}
	return k, k != "" && len(k) <= storage.MaxNameLen && strings.IndexByte(k, 0) < 0
}

// appendTerms appends the audit_keys rows of one event (owner, kind,
// name, seq): its action and each distinct name it lists.
func appendTerms(args []any, owner string, seq int64, action audit.Action, keys []string) []any {
	if action.Valid() {
		args = append(args, owner, termAction, string(action), seq)
	}
	start := len(args)
next:
	for _, k := range keys {
		k, ok := indexable(k)
		if !ok {
			continue
		}
		for i := start + 2; i < len(args); i += 4 {
			if args[i].(string) == k {
				continue next
			}
		}
		args = append(args, owner, termKey, k, seq)
	}
	return args
}

// Multi-row inserts: their tables, columns and rows per statement.
type insertKind int

const (
	insEvents insertKind = iota
	insKeys
	insBoth // bothSQL
)

var inserts = [...]struct {
	head, row string
	cols      int
}{
	insEvents: {`INSERT INTO audit_events (owner, seq, time, hash, data, total) VALUES `, `(?, ?, ?, ?, ?, ?)`, 6},
	insKeys:   {`INSERT INTO audit_keys (owner, kind, name, seq) VALUES `, `(?, ?, ?, ?)`, 4},
}

// insertRows bounds the rows of one insert (and the parameters: 2,500).
const insertRows = 500

// insertMany inserts args (each row's columns in order) into kind's table.
// With prepared (db is a transaction of the pool), it runs statements of
// a power of two rows up to preparedRows, prepared once: a statement
// parsed anew for each append's count of rows cost more than running two
// (SQLite parses in the caller's CPU). Otherwise (the upgrade, on the
// migration's own connection) insertRows rows per statement.
func (s *Store) insertMany(ctx context.Context, db execer, kind insertKind, args []any, prepared bool) error {
	cols := inserts[kind].cols
	tx, ok := db.(*sql.Tx)
	if !ok || !prepared {
		for start := 0; start < len(args); start += insertRows * cols {
			part := args[start:min(start+insertRows*cols, len(args))]
			if _, err := db.ExecContext(ctx, s.insertSQL(kind, len(part)/cols), part...); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(args); {
		n := min(preparedRows, (len(args)-start)/cols)
		n = 1 << (bits.Len(uint(n)) - 1) // the largest power of two at most n
		st, err := s.insertStmt(ctx, kind, n)
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args[start:start+n*cols]...); err != nil {
			return err
		}
		start += n * cols
	}
	return nil
}

const preparedRows = 64

type insertKey struct {
	kind insertKind
	n, m int // m: with insBoth, the audit_keys rows
}

// insertSQL is the insert of n rows of kind, rebound once.
func (s *Store) insertSQL(kind insertKind, n int) string {
	k := insertKey{kind: kind, n: n}
	if q, ok := s.insertSQLs.Load(k); ok {
		return q.(string)
	}
	in := inserts[kind]
	q := s.rebind(in.head + in.row + strings.Repeat(", "+in.row, n-1))
	s.insertSQLs.Store(k, q)
	return q
}

// bothSQL is, on PostgreSQL, the insert of n events and m index rows in
// one statement (a data-modifying WITH), rebound once: one round trip
// for both. pgx prepares and caches it per connection by its text.
func (s *Store) bothSQL(n, m int) string {
	k := insertKey{kind: insBoth, n: n, m: m}
	if q, ok := s.insertSQLs.Load(k); ok {
		return q.(string)
	}
	ev, ks := inserts[insEvents], inserts[insKeys]
	q := s.rebind(`WITH e AS (` + ev.head + ev.row + strings.Repeat(", "+ev.row, n-1) + `) ` +
		ks.head + ks.row + strings.Repeat(", "+ks.row, m-1))
	s.insertSQLs.Store(k, q)
	return q
}

// insertStmt is insertSQL prepared on the pool, once.
func (s *Store) insertStmt(ctx context.Context, kind insertKind, n int) (*sql.Stmt, error) {
	k := insertKey{kind: kind, n: n}
	if st, ok := s.insertStmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.sqlDB.PrepareContext(ctx, s.insertSQL(kind, n))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.insertStmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// appendAuditTx links events after the owner's newest, signs the newest
// it adds, and inserts them with their totals and index rows, in tx. Past
// the audit quota it first removes the oldest events (quotaTrim). The
// caller holds the owner's log (logTx, or the usage lock of a Commit or
// Destroy).
func (s *Store) appendAuditTx(ctx context.Context, gtx *gorm.DB, tx *sql.Tx, owner string, events []audit.Event) error {
	return s.appendContinued(ctx, gtx, tx, owner, events, false)
}

// continuation is audit.Continue on owner's log as tx sees it.
func (s *Store) continuation(ctx context.Context, tx *sql.Tx, owner string, st auditState) (*audit.Event, error) {
	if audit.Remembers(ctx, owner, st.head) {
		return nil, nil // the usual case: the head this server signed last
	}
	var sig eventSig
	_ = json.Unmarshal(st.data, &sig) // unreadable: unsigned (audit.Continue)
	return audit.Continue(ctx, owner, st.head, sig.SigKey, sig.Sig, func() (bool, error) { return s.signedBefore(ctx, tx, owner) })
}

// appendContinued is appendAuditTx; continued says that the caller ran
// audit.Continue already (and events start with its answer), before it
// removed events that the decision depends on.
func (s *Store) appendContinued(ctx context.Context, gtx *gorm.DB, tx *sql.Tx, owner string, events []audit.Event, continued bool) error {
	if len(events) == 0 {
		return nil
	}
	quota := s.quota.AuditBytes
	st, err := s.auditState(ctx, tx, owner, quota > 0)
	if err != nil {
		return err
	}
	if !continued {
		first, err := s.continuation(ctx, tx, owner, st)
		if err != nil {
			return err
		}
		events = audit.Prepend(first, events)
	}
	head := st.head
	b := auditBatch{linked: make([]audit.Event, len(events), len(events)+1), data: make([][]byte, len(events), len(events)+1)}
	for i, e := range events {
		b.linked[i], head = audit.Link(head, e)
	}
	audit.SignHead(ctx, owner, &b.linked[len(events)-1])
	var added int64
	for i := range b.linked {
		if b.data[i], err = json.Marshal(b.linked[i]); err != nil {
			return err
		}
		added += int64(len(b.data[i]))
	}
	if quota > 0 && st.total-st.prior+added > quota && st.head.Seq > 0 {
		if err := s.quotaTrim(ctx, tx, owner, st, head, &b); err != nil {
			return translate(gtx, err)
		}
	}
	if err := s.insertEvents(ctx, tx, owner, st.total, b.linked, b.data); err != nil {
		return translate(gtx, err)
	}
	return nil
}

// auditBatch is what one append adds: the linked events and their JSON.
type auditBatch struct {
	linked []audit.Event
	data   [][]byte
}

// auditState is what an append reads of an owner's log: its newest event,
// that event's total, and (withFirst) the total before the oldest kept
// event, so the log keeps total - prior bytes.
type auditState struct {
	head         audit.Head
	data         []byte // the newest event's JSON: its signature, read only when needed
	total, prior int64
}

// eventSig is the signature an event's JSON carries.
type eventSig struct {
	SigKey string `json:"sig_key"`
	Sig    string `json:"sig"`
}

// signedBefore reports whether any event of owner's log carries a
// signature (audit.Continue), reading it newest first a page at a time;
// it runs only when the newest event carries none of the server's.
func (s *Store) signedBefore(ctx context.Context, tx *sql.Tx, owner string) (bool, error) {
	type row struct {
		seq  int64
		data []byte
	}
	before := int64(math.MaxInt64)
	for {
		rows, err := tx.StmtContext(ctx, s.hist.auditPage).QueryContext(ctx, owner, before, upgradePage)
		if err != nil {
			return false, err
		}
		page, err := readRows(rows, func(rows *sql.Rows) (r row, err error) { return r, rows.Scan(&r.seq, &r.data) })
		if err != nil {
			return false, err
		}
		for _, r := range page {
			var sig eventSig
			if json.Unmarshal(r.data, &sig) == nil && sig.Sig != "" {
				return true, nil
			}
			before = r.seq
		}
		if len(page) < upgradePage {
			return false, nil
		}
	}
}

func (s *Store) auditState(ctx context.Context, tx *sql.Tx, owner string, withFirst bool) (auditState, error) {
	var st auditState
	var seq, total, prior sql.NullInt64
	var hash sql.NullString
	var data []byte
	var err error
	if withFirst {
		err = tx.StmtContext(ctx, s.hist.headFirst).QueryRowContext(ctx, owner, owner).Scan(&seq, &hash, &total, &data, &prior)
	} else {
		err = tx.StmtContext(ctx, s.hist.head).QueryRowContext(ctx, owner).Scan(&seq, &hash, &total, &data)
	}
	if errors.Is(err, sql.ErrNoRows) || err == nil && !seq.Valid {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.head = audit.Head{Seq: uint64(seq.Int64), Hash: hash.String}
	st.data = data
	st.total, st.prior = total.Int64, prior.Int64
	if !total.Valid || withFirst && !prior.Valid {
		// Events without a total: written by the previous release after
		// the upgrade. Count them from the data.
		var sum int64
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COALESCE(SUM(LENGTH(data)), 0) FROM audit_events WHERE owner = ?`), owner).Scan(&sum); err != nil {
			return st, err
		}
		if !total.Valid {
			st.total = st.prior + sum
		} else {
			st.prior = st.total - sum
		}
	}
	return st, nil
}

// auditBytes is what owner's log keeps (Usage.AuditBytes).
func (s *Store) auditBytes(ctx context.Context, owner string) (int64, error) {
	var total, prior sql.NullInt64
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT
		(SELECT total FROM audit_events WHERE owner = ? ORDER BY seq DESC LIMIT 1),
		(SELECT total - LENGTH(data) FROM audit_events WHERE owner = ? ORDER BY seq LIMIT 1)`), owner, owner).Scan(&total, &prior)
	if err != nil || total.Valid && prior.Valid {
		return total.Int64 - prior.Int64, err
	}
	var sum int64
	err = s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COALESCE(SUM(LENGTH(data)), 0) FROM audit_events WHERE owner = ?`), owner).Scan(&sum)
	return sum, err
}

// insertEvents inserts linked events (data: their JSON) after a log whose
// newest event has total base, with their index rows.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, owner string, base int64, linked []audit.Event, data [][]byte) error {
	if s.dialect == Postgres {
		return s.insertEventsPG(ctx, tx, owner, base, linked, data)
	}
	var terms []any
	if len(linked) == 1 {
		e := linked[0]
		if _, err := tx.StmtContext(ctx, s.hist.insAudit).ExecContext(ctx, owner, e.Seq, ts(e.Time), e.Hash, data[0], base+int64(len(data[0]))); err != nil {
			return err
		}
		terms = make([]any, 0, 4*(1+len(e.Keys)))
	} else {
		rows := make([]any, 0, 6*len(linked))
		for i, e := range linked {
			base += int64(len(data[i]))
			rows = append(rows, owner, e.Seq, ts(e.Time), e.Hash, data[i], base)
		}
		if err := s.insertMany(ctx, tx, insEvents, rows, true); err != nil {
			return err
		}
	}
	for _, e := range linked {
		terms = appendTerms(terms, owner, int64(e.Seq), e.Action, e.Keys)
	}
	return s.insertMany(ctx, tx, insKeys, terms, true)
}

// insertEventsPG is insertEvents in one statement per bothRows events.
func (s *Store) insertEventsPG(ctx context.Context, tx *sql.Tx, owner string, base int64, linked []audit.Event, data [][]byte) error {
	for start := 0; start < len(linked); start += bothRows {
		end := min(start+bothRows, len(linked))
		args := make([]any, 0, 6*(end-start)+8*(end-start))
		for i := start; i < end; i++ {
			e := linked[i]
			base += int64(len(data[i]))
			args = append(args, owner, e.Seq, ts(e.Time), e.Hash, data[i], base)
		}
		n := len(args)
		for _, e := range linked[start:end] {
			args = appendTerms(args, owner, int64(e.Seq), e.Action, e.Keys)
		}
		q := s.insertSQL(insEvents, end-start)
		if m := (len(args) - n) / 4; m > 0 {
			q = s.bothSQL(end-start, m)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// bothRows bounds the events of one statement of insertEventsPG: with up
// to 1 + audit.MaxKeys index rows each, 200 × (6 + 17 × 4) parameters,
// under PostgreSQL's 65,535.
const bothRows = 200

// quotaTrim makes room for b in an owner's log (st) that it would take
// past the audit quota: it removes the oldest events (never b's) until
// the log and b are at most storage.AuditTrimTarget, and appends to b an
// audit.QuotaTrim event, signed as the newest (b's last event loses its
// signature). head is b's newest event. The events to remove are found
// by their totals: those up to the first whose total reaches prior plus
// the bytes to free.
func (s *Store) quotaTrim(ctx context.Context, tx *sql.Tx, owner string, st auditState, head audit.Head, b *auditBatch) error {
	last := len(b.linked) - 1
	unsigned := b.linked[last]
	unsigned.SigKey, unsigned.Sig = "", ""
	udata, err := json.Marshal(unsigned)
	if err != nil {
		return err
	}
	var added int64
	for _, d := range b.data[:last] {
		added += int64(len(d))
	}
	added += int64(len(udata))
	need := st.total - st.prior + added - storage.AuditTrimTarget(s.quota.AuditBytes)

	// Every query here stops below b's first seq: under READ COMMITTED
	// each statement sees what other writers committed since st was
	// read, and their events (at that seq and on) must stay, for b's
	// insert to collide with them and this transaction to run again.
	oldest := b.linked[0].Seq
	first, anchor := oldest, b.linked[0].PrevHash
	var cut int64
	err = tx.StmtContext(ctx, s.hist.auditCut).QueryRowContext(ctx, owner, st.prior+need, oldest).Scan(&cut)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err == nil {
		var seq int64
		var data []byte
		err := tx.StmtContext(ctx, s.hist.auditAfter).QueryRowContext(ctx, owner, cut, oldest).Scan(&seq, &data)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil {
			var kept audit.Event
			if err := json.Unmarshal(data, &kept); err != nil {
				return fmt.Errorf("audit event %d: %w", seq, err)
			}
			first, anchor = uint64(seq), kept.PrevHash
		}
	}
	if err := s.removeAudit(ctx, tx, owner, first); err != nil {
		return err
	}
	trim, _ := audit.Link(head, audit.QuotaTrim(now(), first, anchor))
	audit.SignHead(ctx, owner, &trim)
	tdata, err := json.Marshal(trim)
	if err != nil {
		return err
	}
	b.linked[last], b.data[last] = unsigned, udata
	b.linked, b.data = append(b.linked, trim), append(b.data, tdata)
	return nil
}

// removeAudit removes the owner's events before seq first, and their
// index rows.
func (s *Store) removeAudit(ctx context.Context, tx *sql.Tx, owner string, first uint64) error {
	for _, q := range []string{`DELETE FROM audit_events WHERE owner = ? AND seq < ?`, `DELETE FROM audit_keys WHERE owner = ? AND seq < ?`} {
		if _, err := tx.ExecContext(ctx, s.rebind(q), owner, first); err != nil {
			return err
		}
	}
	return nil
}

// logTx is gtx's database/sql transaction, in which it takes the owner's
// usage row lock (quota.go) for a write to its audit log, so the log's
// writers take turns. Without it, under READ COMMITTED, an append that
// read a stale head could insert at a seq that a quota trim had just
// freed, and commit a gap: a racing seq collides on the primary key only
// while the row is there. SQLite's BEGIN IMMEDIATE serialises every write
// already.
func (s *Store) logTx(ctx context.Context, gtx *gorm.DB, owner string) (*sql.Tx, error) {
	tx, err := sqlTx(gtx)
	if err != nil || s.dialect == SQLite {
		return tx, err
	}
	_, err = s.lockUsage(ctx, gtx, tx, owner)
	return tx, err
}

// appendAudit is appendAuditTx inside a gorm transaction, under logTx's lock.
func (s *Store) appendAudit(ctx context.Context, gtx *gorm.DB, owner string, events []audit.Event) error {
	if err := s.prepareHistory(ctx); err != nil {
		return err
	}
	tx, err := s.logTx(ctx, gtx, owner)
	if err != nil {
		return err
	}
	return s.appendAuditTx(ctx, gtx, tx, owner, events)
}

// AppendAudit implements storage.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	return s.inHistoryTx(ctx, func(tx *gorm.DB) error { return s.appendAudit(s.stmtCtx(ctx), tx, owner, events) })
}

// TrimAudit implements storage.AuditLog: per owner, one transaction that
// removes the events before the first one written at or after before
// (the newest always stays), so every event it removes is older than
// before, and records the trim.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	if err := s.prepareHistory(ctx); err != nil {
		return err
	}
	cut := ts(before)
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT DISTINCT owner FROM audit_events WHERE time < ?`), cut)
	if err != nil {
		return err
	}
	owners, err := readRows(rows, func(rows *sql.Rows) (o string, err error) { return o, rows.Scan(&o) })
	if err != nil {
		return err
	}
	for _, owner := range owners {
		err := s.inHistoryTx(ctx, func(gtx *gorm.DB) error {
			tx, err := s.logTx(ctx, gtx, owner)
			if err != nil {
				return err
			}
			var first, newest, keep sql.NullInt64
			if err := tx.StmtContext(ctx, s.hist.auditFirst).QueryRowContext(ctx, owner).Scan(&first, &newest); err != nil {
				return err
			}
			// The owner's events in seq order up to the first one kept.
			err = tx.QueryRowContext(ctx, s.rebind(`SELECT seq FROM audit_events WHERE owner = ? AND time >= ? ORDER BY seq LIMIT 1`), owner, cut).Scan(&keep)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if !first.Valid {
				return nil
			}
			k := newest.Int64 // the newest event always stays
			if keep.Valid {
				k = min(keep.Int64, k)
			}
			if k <= first.Int64 {
				return nil
			}
			var data []byte
			if err := tx.QueryRowContext(ctx, s.rebind(`SELECT data FROM audit_events WHERE owner = ? AND seq = ?`), owner, k).Scan(&data); err != nil {
				return err
			}
			var kept audit.Event
			if err := json.Unmarshal(data, &kept); err != nil {
				return fmt.Errorf("audit event %d: %w", k, err)
			}
			// Whether the log was signed is decided before its oldest
			// events (and their signatures) go.
			st, err := s.auditState(ctx, tx, owner, false)
			if err != nil {
				return err
			}
			cont, err := s.continuation(ctx, tx, owner, st)
			if err != nil {
				return err
			}
			if err := s.removeAudit(ctx, tx, owner, uint64(k)); err != nil {
				return err
			}
			t := now()
			ev := audit.RetentionTrim(t, uint64(k), kept.PrevHash, cut, t.Sub(cut))
			return s.appendContinued(ctx, gtx, tx, owner, audit.Prepend(cont, []audit.Event{ev}), true)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ImportAudit implements storage.HistoryAdmin in one transaction, indexed
// and counted like appended events.
func (s *Store) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	if err := s.prepareHistory(ctx); err != nil {
		return err
	}
	err := s.inHistoryTx(ctx, func(gtx *gorm.DB) error {
		tx, err := s.logTx(ctx, gtx, owner)
		if err != nil {
			return err
		}
		if st, err := s.auditState(ctx, tx, owner, false); err != nil {
			return err
		} else if st.head.Seq > 0 {
			return fmt.Errorf("%w: the audit log of %s is not empty", storage.ErrInvalid, owner)
		}
		var total int64
		for start := 0; start < len(events); start += insertRows {
			part := events[start:min(start+insertRows, len(events))]
			data := make([][]byte, len(part))
			for i, e := range part {
				if e.Seq == 0 || e.Seq > math.MaxInt64 {
					return fmt.Errorf("%w: audit event seq %d", storage.ErrInvalid, e.Seq)
				}
				if data[i], err = json.Marshal(e); err != nil {
					return err
				}
			}
			if err := s.insertEvents(ctx, tx, owner, total, part, data); err != nil {
				return translate(gtx, err)
			}
			for _, d := range data {
				total += int64(len(d))
			}
		}
		return nil
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%w: the audit log of %s is not empty", storage.ErrInvalid, owner)
	}
	return err
}

// Audit implements storage.AuditLog. The candidates come, newest first,
// from the primary key of audit_events (no Key or Action), or from that
// of audit_keys (the Key's rows, else the Action's), in chunks that grow
// from the page size; each is checked against every filter here. One call
// examines at most storage.AuditScanMax candidates. Since stops the scan
// at the first event older than Since - storage.AuditSkew (no older one
// can match); Until starts it below the first event at or after Until +
// AuditSkew, found by bisecting seq (untilBound).
func (s *Store) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	out := storage.AuditPage{Events: []audit.Event{}}
	if q.Limit <= 0 {
		return out, nil
	}
	if err := s.prepareHistory(ctx); err != nil {
		return out, err
	}
	limit := min(q.Limit, storage.AuditPageMax)
	before := int64(math.MaxInt64)
	if q.Before > 0 && q.Before <= math.MaxInt64 {
		before = int64(q.Before)
	}
	kind, term := -1, ""
	switch {
	case q.Key != "":
		k, ok := indexable(q.Key)
		if !ok || k != q.Key {
			return out, nil // no stored name reads back as q.Key
		}
		kind, term = termKey, k
	case q.Action != "":
		if !q.Action.Valid() {
			return out, nil
		}
		kind, term = termAction, string(q.Action)
	}
	if !q.Until.IsZero() {
		b, err := s.untilBound(ctx, owner, before, q.Until.Add(storage.AuditSkew))
		if err != nil || b <= 1 {
			return out, err
		}
		before = b
	}
	stop := time.Time{} // candidates older than this end the scan
	if !q.Since.IsZero() {
		stop = q.Since.Add(-storage.AuditSkew)
	}
	query := func(before int64, n int) (*sql.Rows, error) {
		if kind < 0 {
			return s.hist.auditPage.QueryContext(ctx, owner, before, n)
		}
		return s.hist.auditTerm.QueryContext(ctx, owner, kind, term, before, n)
	}
	chunk := limit + 1
	if kind >= 0 || !stop.IsZero() || !q.Until.IsZero() {
		chunk = max(chunk, 64)
	}
	for budget := storage.AuditScanMax; budget > 0; {
		n := min(chunk, budget+1) // one more: is there an older candidate?
		rows, err := query(before, n)
		if err != nil {
			return out, err
		}
		got, done, err := s.auditScan(rows, q, stop, limit, &out, &before, &budget)
		if err != nil || done {
			return out, err
		}
		if got < n {
			return out, nil // no older candidate
		}
		chunk = min(2*chunk, 1000)
	}
	out.Next = uint64(before)
	return out, nil
}

// auditScan reads one chunk of candidates into out, newest first, moving
// before past each one it examines. done: the page is answered (full, with
// Next set when an older candidate may match, or ended by Since).
func (s *Store) auditScan(rows *sql.Rows, q storage.AuditQuery, stop time.Time, limit int, out *storage.AuditPage, before *int64, budget *int) (got int, done bool, err error) {
	defer rows.Close()
	for rows.Next() {
		got++
		var seq int64
		var data []byte
		if err := rows.Scan(&seq, &data); err != nil {
			return got, true, err
		}
		full := len(out.Events) == limit
		if full && stop.IsZero() {
			out.Next = uint64(*before) // an older candidate exists
			return got, true, nil
		}
		var e audit.Event
		if err := json.Unmarshal(data, &e); err != nil {
			return got, true, fmt.Errorf("audit event %d: %w", seq, err)
		}
		if !stop.IsZero() && e.Time.Before(stop) {
			return got, true, nil // older events cannot match
		}
		if full {
			out.Next = uint64(*before)
			return got, true, nil
		}
		if *budget == 0 {
			out.Next = uint64(*before)
			return got, true, nil
		}
		*budget--
		*before = seq
		if storage.MatchAudit(q, e) {
			out.Events = append(out.Events, e)
		}
	}
	if err := rows.Err(); err != nil {
		return got, true, err
	}
	return got, false, nil // when full, the next chunk's first row tells whether an older candidate exists
}

// untilBound is a seq at or below before whose event is at or after t,
// such that every event from it on is after Until (AuditSkew: an event is
// never older than those before it by more): the smallest it finds by
// bisecting seq between the owner's first event and before. The events
// from it on cannot match; before when none is found.
func (s *Store) untilBound(ctx context.Context, owner string, before int64, t time.Time) (int64, error) {
	var first, newest sql.NullInt64
	if err := s.hist.auditFirst.QueryRowContext(ctx, owner).Scan(&first, &newest); err != nil || !first.Valid {
		return before, err
	}
	at := func(seq int64) (bool, error) { // seq's event is at or after t
		var tm time.Time
		err := s.hist.auditTime.QueryRowContext(ctx, owner, seq).Scan(&tm)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil && !tm.Before(t), err
	}
	lo, hi := first.Int64, min(newest.Int64, before-1)
	if hi < lo {
		return before, nil
	}
	if ok, err := at(hi); err != nil || !ok {
		return before, err
	}
	for lo < hi { // hi's event is at or after t
		mid := lo + (hi-lo)/2
		ok, err := at(mid)
		if err != nil {
			return before, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi, nil
}
