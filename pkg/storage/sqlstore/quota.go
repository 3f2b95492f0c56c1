package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"gorm.io/gorm"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// quotaMigration (schema version 3) adds each owner's usage record. Every
// mutation locks its owner's row first, so the writes of one owner take
// turns across replicas and each sees the last one's count. An owner
// without a row (data written before version 3) is counted when first
// written to; two replicas doing that at once collide on the primary key
// and the loser runs again (see inHistoryTx).
var quotaMigration = map[string][]string{
	SQLite: {`CREATE TABLE IF NOT EXISTS quota_usage (
		owner TEXT NOT NULL PRIMARY KEY,
		secrets INTEGER NOT NULL,
		bytes INTEGER NOT NULL)`},
	Postgres: {`CREATE TABLE IF NOT EXISTS quota_usage (
		owner text COLLATE "C" NOT NULL PRIMARY KEY,
		secrets bigint NOT NULL,
		bytes bigint NOT NULL)`},
	MySQL: {"CREATE TABLE IF NOT EXISTS quota_usage (" +
		"owner VARBINARY(512) NOT NULL PRIMARY KEY," +
		"secrets BIGINT NOT NULL," +
		"bytes BIGINT NOT NULL" +
		") ENGINE=InnoDB"},
}

// What counts (storage.Quota): a name holds room while it has a row in
// secret_versions or in secrets; its bytes are those of its kept versions
// (tombstones are empty) plus, when Put wrote the current value outside
// the history (its version is newer than every kept one), that value.
const (
	// countOwner counts an owner from the data: names, version bytes,
	// bytes of values written outside the history.
	countOwner = `SELECT
		(SELECT COUNT(*) FROM (SELECT name FROM secrets WHERE owner = ? UNION SELECT name FROM secret_versions WHERE owner = ?) n),
		(SELECT COALESCE(SUM(LENGTH(value)), 0) FROM secret_versions WHERE owner = ?),
		(SELECT COALESCE(SUM(LENGTH(s.value)), 0) FROM secrets s WHERE s.owner = ?
			AND s.version > COALESCE((SELECT MAX(version) FROM secret_versions v WHERE v.owner = s.owner AND v.name = s.name), 0))`
	getUsage = `SELECT secrets, bytes FROM quota_usage WHERE owner = ?`
)

// SetQuota implements storage.Quotas. A store counts use whatever its
// quota, so replicas with different settings keep one count.
func (s *Store) SetQuota(q storage.Quota) { s.quota = q }

// Usage implements storage.Quotas.
func (s *Store) Usage(ctx context.Context, owner string) (storage.Usage, error) {
	var u storage.Usage
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(getUsage), owner).Scan(&u.Secrets, &u.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		u, err = s.countOwner(ctx, s.sqlDB, owner)
	}
	if err != nil {
		return u, err
	}
	u.AuditBytes, err = s.auditBytes(ctx, owner)
	return u, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) countOwner(ctx context.Context, db queryer, owner string) (storage.Usage, error) {
	var u storage.Usage
	var outside int64
	err := db.QueryRowContext(ctx, s.rebind(countOwner), owner, owner, owner, owner).Scan(&u.Secrets, &u.Bytes, &outside)
	u.Bytes += outside
	return u, err
}

// usageTx is an owner's usage, locked for the rest of a write transaction.
type usageTx struct {
	owner         string
	before, after storage.Usage
}

// lockUsage locks owner's usage row in tx, creating it from the data when
// there is none. It is the first statement of every write to owner.
func (s *Store) lockUsage(ctx context.Context, gtx *gorm.DB, tx *sql.Tx, owner string) (*usageTx, error) {
	if err := s.prepareHistory(ctx); err != nil {
		return nil, err
	}
	u := &usageTx{owner: owner}
	err := tx.StmtContext(ctx, s.hist.lockUsage).QueryRowContext(ctx, owner).Scan(&u.before.Secrets, &u.before.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		if u.before, err = s.countOwner(ctx, tx, owner); err != nil {
			return nil, err
		}
		_, err = tx.StmtContext(ctx, s.hist.insUsage).ExecContext(ctx, owner, u.before.Secrets, u.before.Bytes)
		err = translate(gtx, err)
	}
	if err != nil {
		return nil, err
	}
	u.after = u.before
	return u, nil
}

// add counts a name that gains (+1) or loses (-1) its room, and bytes.
func (u *usageTx) add(names, bytes int64) {
	u.after.Secrets += names
	u.after.Bytes += bytes
}

// check refuses what takes the owner past q.
func (u *usageTx) check(q storage.Quota) error { return storage.CheckQuota(q, u.before, u.after) }

// save stores the new count, if it changed.
func (s *Store) saveUsage(ctx context.Context, tx *sql.Tx, u *usageTx) error {
	if u.after == u.before {
		return nil
	}
	_, err := tx.StmtContext(ctx, s.hist.setUsage).ExecContext(ctx, u.after.Secrets, u.after.Bytes, u.owner)
	return err
}

// nameState is what the rows of one name hold.
type nameState struct {
	cur, curLen  int64 // the secrets row: its version and value length
	hasCur       bool
	vmax, vbytes int64 // secret_versions: newest version, bytes of all
	hasVersions  bool
}

// held reports whether the name takes room, and how many bytes.
func (n nameState) held() (bool, int64) {
	b := n.vbytes
	if n.hasCur && n.cur > n.vmax {
		b += n.curLen
	}
	return n.hasCur || n.hasVersions, b
}

// diff is the change of usage from a to b.
func diff(a, b nameState) (names, bytes int64) {
	ha, ba := a.held()
	hb, bb := b.held()
	switch {
	case hb && !ha:
		names = 1
	case ha && !hb:
		names = -1
	}
	return names, bb - ba
}

// nameStates reads the rows of names (at most chunkRows) in one query.
func (s *Store) nameStates(ctx context.Context, tx *sql.Tx, owner string, names []string) (map[string]nameState, error) {
	q := s.stateList(len(names))
	args := make([]any, 0, 2+2*len(names))
	args = append(args, owner)
	for _, n := range names {
		args = append(args, n)
	}
	args = append(args, owner)
	for _, n := range names {
		args = append(args, n)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]nameState, len(names))
	for rows.Next() {
		var name string
		var kind, version, size int64
		if err := rows.Scan(&name, &kind, &version, &size); err != nil {
			return nil, err
		}
		st := out[name]
		if kind == 0 {
			st.cur, st.curLen, st.hasCur = version, size, true
		} else {
			st.vmax, st.vbytes, st.hasVersions = version, size, true
		}
		out[name] = st
	}
	return out, rows.Err()
}

// stateList is the nameStates query for n names, rebound once per n.
func (s *Store) stateList(n int) string {
	if q, ok := s.stateLists.Load(n); ok {
		return q.(string)
	}
	in := `(?` + strings.Repeat(", ?", n-1) + `)`
	q := s.rebind(`SELECT name, 0, version, LENGTH(value) FROM secrets WHERE owner = ? AND name IN ` + in +
		` UNION ALL SELECT name, 1, MAX(version), SUM(LENGTH(value)) FROM secret_versions WHERE owner = ? AND name IN ` + in +
		` GROUP BY name`)
	s.stateLists.Store(n, q)
	return q
}

// counted runs fn, a write to names of owner, in tx under the owner's
// usage lock, and counts what it changed by reading the names before and
// after. With check, a write that takes the owner past the quota is
// refused and rolled back. It is for the writes off the request's hot
// path (Delete, Destroy, Swap, purges); Put and Commit count as they plan.
func (s *Store) counted(ctx context.Context, gtx *gorm.DB, owner string, names []string, check bool, fn func(tx *sql.Tx) error) error {
	tx, err := sqlTx(gtx)
	if err != nil {
		return err
	}
	u, err := s.lockUsage(ctx, gtx, tx, owner)
	if err != nil {
		return err
	}
	states := func() ([]map[string]nameState, error) {
		var out []map[string]nameState
		for start := 0; start < len(names); start += chunkRows {
			m, err := s.nameStates(ctx, tx, owner, names[start:min(start+chunkRows, len(names))])
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	before, err := states()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	after, err := states()
	if err != nil {
		return err
	}
	for i := range before {
		for _, n := range names[i*chunkRows : min((i+1)*chunkRows, len(names))] {
			u.add(diff(before[i][n], after[i][n]))
		}
	}
	if check {
		if err := u.check(s.quota); err != nil {
			return err
		}
	}
	return s.saveUsage(ctx, tx, u)
}
