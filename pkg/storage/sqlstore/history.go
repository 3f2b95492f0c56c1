package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// historyMigration (schema version 2) adds the versions of every secret
// and the owners' audit logs. Their primary keys are what makes racing
// writers safe: two that compute the same next version (or audit seq)
// collide on it, and the loser's transaction runs again (see raced).
var historyMigration = map[string][]string{
	SQLite: {
		`CREATE TABLE IF NOT EXISTS secret_versions (
			owner TEXT NOT NULL,
			name TEXT NOT NULL,
			version INTEGER NOT NULL,
			value BLOB NOT NULL,
			deleted INTEGER NOT NULL,
			created_at DATETIME NOT NULL,
			by_address TEXT NOT NULL,
			by_job TEXT NOT NULL,
			PRIMARY KEY (owner, name, version))`,
		`CREATE INDEX IF NOT EXISTS secret_versions_created_at ON secret_versions (created_at)`,
		`CREATE TABLE IF NOT EXISTS audit_events (
			owner TEXT NOT NULL,
			seq INTEGER NOT NULL,
			time DATETIME NOT NULL,
			hash TEXT NOT NULL,
			data BLOB NOT NULL,
			PRIMARY KEY (owner, seq))`,
		`CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)`,
	},
	Postgres: {
		`CREATE TABLE IF NOT EXISTS secret_versions (
			owner text COLLATE "C" NOT NULL,
			name text COLLATE "C" NOT NULL,
			version bigint NOT NULL,
			value bytea NOT NULL,
			deleted boolean NOT NULL,
			created_at timestamptz NOT NULL,
			by_address text NOT NULL,
			by_job text NOT NULL,
			PRIMARY KEY (owner, name, version))`,
		`CREATE INDEX IF NOT EXISTS secret_versions_created_at ON secret_versions (created_at)`,
		`CREATE TABLE IF NOT EXISTS audit_events (
			owner text COLLATE "C" NOT NULL,
			seq bigint NOT NULL,
			time timestamptz NOT NULL,
			hash text NOT NULL,
			data bytea NOT NULL,
			PRIMARY KEY (owner, seq))`,
		`CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)`,
	},
	MySQL: {
		"CREATE TABLE IF NOT EXISTS secret_versions (" +
			"owner VARBINARY(512) NOT NULL," +
			"name VARBINARY(512) NOT NULL," +
			"version BIGINT NOT NULL," +
			"value LONGBLOB NOT NULL," +
			"deleted BOOLEAN NOT NULL," +
			"created_at DATETIME(6) NOT NULL," +
			"by_address VARBINARY(512) NOT NULL," +
			"by_job VARBINARY(512) NOT NULL," +
			"PRIMARY KEY (owner, name, version)," +
			"INDEX secret_versions_created_at (created_at)" +
			") ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS audit_events (" +
			"owner VARBINARY(512) NOT NULL," +
			"seq BIGINT NOT NULL," +
			"time DATETIME(6) NOT NULL," +
			"hash VARBINARY(64) NOT NULL," +
			"data LONGBLOB NOT NULL," +
			"PRIMARY KEY (owner, seq)," +
			"INDEX audit_events_time (time)" +
			") ENGINE=InnoDB",
	},
}

// upsertCurrent writes the newest live version into secrets, keeping
// created_at of a row that exists.
var upsertCurrent = clause.OnConflict{
	Columns: []clause.Column{{Name: "owner"}, {Name: "name"}},
	DoUpdates: []clause.Assignment{
		{Column: clause.Column{Name: "value"}, Value: clause.Column{Table: "excluded", Name: "value"}},
		{Column: clause.Column{Name: "updated_at"}, Value: clause.Column{Table: "excluded", Name: "updated_at"}},
		{Column: clause.Column{Name: "version"}, Value: clause.Column{Table: "excluded", Name: "version"}},
	},
}

// errRaced is a transaction that lost a race on a primary key to another
// writer; it runs again and then sees that writer's row.
var errRaced = errors.New("sqlstore: raced another writer")

// raceAttempts bounds the reruns of a transaction that keeps losing races.
const raceAttempts = 50

// inHistoryTx runs fn in a transaction, again after a jittered pause
// while it loses a race, so racing writers spread out and each gets in.
func (s *Store) inHistoryTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	var err error
	backoff := time.Millisecond
	for range raceAttempts {
		err = s.inTx(ctx, func(tx *gorm.DB) error {
			err := fn(tx)
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return errRaced
			}
			return err
		})
		if !errors.Is(err, errRaced) {
			return err
		}
		select {
		case <-time.After(backoff/2 + rand.N(backoff)):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	return err
}

// historyStmts are the statements of a Commit, prepared once per Store:
// a Commit runs six or seven of them, and through gorm each would be built
// and parsed again every time.
type historyStmts struct {
	once                                                       sync.Once
	err                                                        error
	state, insVersion, upsertCur, delCur, keep, head, insAudit *sql.Stmt
	keepSize, lockUsage, insUsage, setUsage                    *sql.Stmt // quota.go
	headFirst, auditCut, auditAfter, auditPage, auditTerm      *sql.Stmt // audit.go
	auditTime, auditFirst                                      *sql.Stmt
}

func (s *Store) prepareHistory(ctx context.Context) error {
	h := &s.hist
	h.once.Do(func() {
		// The upsert as gorm renders it for the dialect; its arguments are
		// secretRow's columns in order.
		up := s.db.Session(&gorm.Session{DryRun: true, NewDB: true}).Clauses(upsertCurrent).
			Create(&secretRow{CreatedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}).Statement
		if n := len(up.Vars); n != 6 {
			h.err = fmt.Errorf("sqlstore: the rendered upsert takes %d arguments, not 6", n)
			return
		}
		lock := getUsage
		if s.dialect != SQLite { // SQLite's BEGIN IMMEDIATE has locked it all
			lock += ` FOR UPDATE`
		}
		for _, p := range []struct {
			dst *(*sql.Stmt)
			q   string
		}{
			{&h.state, s.rebind(`SELECT
				COALESCE((SELECT version FROM secret_versions WHERE owner = ? AND name = ? ORDER BY version DESC LIMIT 1), 0),
				COALESCE((SELECT deleted FROM secret_versions WHERE owner = ? AND name = ? ORDER BY version DESC LIMIT 1), FALSE),
				COALESCE((SELECT version FROM secrets WHERE owner = ? AND name = ?), 0),
				COALESCE((SELECT LENGTH(value) FROM secrets WHERE owner = ? AND name = ?), 0),
				COALESCE((SELECT SUM(LENGTH(value)) FROM secret_versions WHERE owner = ? AND name = ?
					AND version <= (SELECT MAX(version) FROM secret_versions WHERE owner = ? AND name = ?) + 1 - ?), 0)`)},
			{&h.keepSize, s.rebind(`SELECT COALESCE(SUM(LENGTH(value)), 0) FROM secret_versions WHERE owner = ? AND name = ? AND version <= ?`)},
			{&h.lockUsage, s.rebind(lock)},
			{&h.insUsage, s.rebind(`INSERT INTO quota_usage (owner, secrets, bytes) VALUES (?, ?, ?)`)},
			{&h.setUsage, s.rebind(`UPDATE quota_usage SET secrets = ?, bytes = ? WHERE owner = ?`)},
			{&h.insVersion, s.rebind(`INSERT INTO secret_versions (owner, name, version, value, deleted, created_at, by_address, by_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)},
			{&h.upsertCur, up.SQL.String()},
			{&h.delCur, s.rebind(`DELETE FROM secrets WHERE owner = ? AND name = ?`)},
			{&h.keep, s.rebind(`DELETE FROM secret_versions WHERE owner = ? AND name = ? AND version <= ?`)},
			{&h.head, s.rebind(`SELECT seq, hash, total, data FROM audit_events WHERE owner = ? ORDER BY seq DESC LIMIT 1`)},
			{&h.headFirst, s.rebind(`SELECT seq, hash, total, data, (SELECT total - LENGTH(data) FROM audit_events WHERE owner = ? ORDER BY seq LIMIT 1)
				FROM audit_events WHERE owner = ? ORDER BY seq DESC LIMIT 1`)},
			{&h.insAudit, s.rebind(`INSERT INTO audit_events (owner, seq, time, hash, data, total) VALUES (?, ?, ?, ?, ?, ?)`)},
			{&h.auditCut, s.rebind(`SELECT seq FROM audit_events WHERE owner = ? AND total >= ? AND seq < ? ORDER BY seq LIMIT 1`)},
			{&h.auditAfter, s.rebind(`SELECT seq, data FROM audit_events WHERE owner = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT 1`)},
			{&h.auditPage, s.rebind(`SELECT seq, data FROM audit_events WHERE owner = ? AND seq < ? ORDER BY seq DESC LIMIT ?`)},
			{&h.auditTerm, s.rebind(auditTermSQL)},
			{&h.auditTime, s.rebind(`SELECT time FROM audit_events WHERE owner = ? AND seq = ?`)},
			{&h.auditFirst, s.rebind(`SELECT MIN(seq), MAX(seq) FROM audit_events WHERE owner = ?`)},
		} {
			if *p.dst, h.err = s.sqlDB.PrepareContext(ctx, p.q); h.err != nil {
				return
			}
		}
	})
	return h.err
}

// sqlTx is the transaction under a gorm transaction.
func sqlTx(tx *gorm.DB) (*sql.Tx, error) {
	t, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return nil, errors.New("sqlstore: not in a transaction")
	}
	return t, nil
}

// nameHistory is what a name's history and current row say.
type nameHistory struct {
	live, last int64 // the newest live version (0: absent or deleted), the newest of any kind
	vmax       int64 // the newest kept in secret_versions
	cur, size  int64 // the secrets row's version and value length (0: none)
	trimmed    int64 // with Keep, the bytes of the versions at or below vmax + 1 - Keep
}

// outside is the length of a current value that Put wrote outside the
// history (a Commit over it replaces it), or 0.
func (h nameHistory) outside() int64 {
	if h.cur > h.vmax {
		return h.size
	}
	return 0
}

// state reads a name's history and current row in one statement: SQLite's
// driver costs some microseconds per statement whatever it does, and
// PostgreSQL and MySQL a round trip. With keep > 0 it also sums the
// versions the next one pushes out when the newest is a kept version, as
// it is after a Commit; Commit asks again when Put wrote one on top.
func (s *Store) state(ctx context.Context, tx *sql.Tx, owner, name string, keep int) (nameHistory, error) {
	var h nameHistory
	var deleted bool
	k := int64(keep)
	if keep <= 0 {
		k = math.MaxInt64 / 2 // past every version: no sum
	}
	if err := tx.StmtContext(ctx, s.hist.state).QueryRowContext(ctx, owner, name, owner, name, owner, name, owner, name,
		owner, name, owner, name, k).Scan(&h.vmax, &deleted, &h.cur, &h.size, &h.trimmed); err != nil {
		return h, err
	}
	h.last = h.vmax
	if !deleted {
		h.live = h.vmax
	}
	if h.cur > h.vmax {
		h.live, h.last = h.cur, h.cur
	}
	return h, nil
}

// Commit implements storage.History in one transaction: the owner's usage
// locked, every name read and the quota checked, then the writes.
func (s *Store) Commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	if err := s.prepareHistory(ctx); err != nil {
		return nil, err
	}
	t := now()
	out := make([]int64, len(c.Changes))
	err := s.inHistoryTx(ctx, func(gtx *gorm.DB) error {
		ctx := s.stmtCtx(ctx)
		clear(out)
		tx, err := sqlTx(gtx)
		if err != nil {
			return err
		}
		u, err := s.lockUsage(ctx, gtx, tx, c.Owner)
		if err != nil {
			return err
		}
		plans := make([]nameHistory, len(c.Changes))
		for i, ch := range c.Changes {
			h, err := s.state(ctx, tx, c.Owner, ch.Name, c.Keep)
			if err != nil {
				return err
			}
			if ch.CAS != storage.NoCAS && h.live != ch.CAS {
				return &storage.ConflictError{Name: ch.Name, Current: h.live}
			}
			plans[i] = h
			if ch.Delete && h.live == 0 {
				continue
			}
			// The new version takes its bytes, replaces a value written
			// outside the history, and pushes the oldest past Keep out.
			var names int64
			if h.last == 0 {
				names = 1
			}
			bytes := int64(len(ch.Value)) - h.outside()
			if v := h.last + 1; c.Keep > 0 && v > int64(c.Keep) {
				trimmed := h.trimmed
				if h.last != h.vmax { // a value Put wrote is the newest
					if err := tx.StmtContext(ctx, s.hist.keepSize).QueryRowContext(ctx, c.Owner, ch.Name, v-int64(c.Keep)).Scan(&trimmed); err != nil {
						return err
					}
				}
				bytes -= trimmed
			}
			u.add(names, bytes)
		}
		if err := u.check(s.quota); err != nil {
			return err
		}
		exec := func(st *sql.Stmt, args ...any) error {
			_, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
			return translate(gtx, err)
		}
		for i, ch := range c.Changes {
			p := plans[i]
			if ch.Delete && p.live == 0 {
				continue
			}
			v := p.last + 1
			value := ch.Value
			if ch.Delete || value == nil {
				value = []byte{}
			}
			if err := exec(s.hist.insVersion, c.Owner, ch.Name, v, value, ch.Delete, t, c.By.Address, c.By.Job); err != nil {
				return err
			}
			if ch.Delete {
				err = exec(s.hist.delCur, c.Owner, ch.Name)
			} else {
				err = exec(s.hist.upsertCur, c.Owner, ch.Name, value, v, t, t)
			}
			if err != nil {
				return err
			}
			if c.Keep > 0 && v > int64(c.Keep) {
				if err := exec(s.hist.keep, c.Owner, ch.Name, v-int64(c.Keep)); err != nil {
					return err
				}
			}
			out[i] = v
		}
		if err := s.saveUsage(ctx, tx, u); err != nil {
			return err
		}
		if c.Event != nil {
			return s.appendAuditTx(ctx, gtx, tx, c.Owner, []audit.Event{*c.Event})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func scanVersions(rows *sql.Rows, withValue bool) ([]storage.Version, error) {
	defer rows.Close()
	var out []storage.Version
	for rows.Next() {
		var v storage.Version
		var value []byte
		if err := rows.Scan(&v.Name, &v.Version, &value, &v.Deleted, &v.CreatedAt, &v.By.Address, &v.By.Job); err != nil {
			return nil, err
		}
		v.CreatedAt = v.CreatedAt.UTC()
		if withValue && !v.Deleted {
			v.Value = value
			if v.Value == nil {
				v.Value = []byte{}
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

const versionCols = `SELECT name, version, value, deleted, created_at, by_address, by_job FROM secret_versions`

// current returns a secret that Put wrote outside the history, as a
// version, when it is newer than every kept version (last).
func (s *Store) current(ctx context.Context, owner, name string, last int64) (storage.Version, bool, error) {
	sec, err := s.Get(ctx, owner, name)
	if errors.Is(err, storage.ErrNotFound) || err == nil && sec.Version <= last {
		return storage.Version{}, false, nil
	}
	if err != nil {
		return storage.Version{}, false, err
	}
	return storage.Version{Name: name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt}, true, nil
}

// GetVersion implements storage.History.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	db := s.db.WithContext(ctx)
	var rows *sql.Rows
	var err error
	if v == 0 {
		rows, err = db.Raw(versionCols+` WHERE owner = ? AND name = ? ORDER BY version DESC LIMIT 1`, owner, name).Rows()
	} else {
		rows, err = db.Raw(versionCols+` WHERE owner = ? AND name = ? AND version = ?`, owner, name, v).Rows()
	}
	if err != nil {
		return storage.Version{}, err
	}
	vs, err := scanVersions(rows, true)
	if err != nil {
		return storage.Version{}, err
	}
	if v == 0 {
		var last int64
		if len(vs) > 0 {
			last = vs[0].Version
		}
		cur, ok, err := s.current(ctx, owner, name, last)
		if err != nil {
			return storage.Version{}, err
		}
		if ok {
			return cur, nil
		}
		if len(vs) > 0 && vs[0].Deleted {
			return storage.Version{}, storage.ErrDeleted
		}
	}
	if len(vs) == 0 {
		if cur, ok, err := s.current(ctx, owner, name, v-1); err != nil || ok && cur.Version == v {
			return cur, err
		}
		return storage.Version{}, storage.ErrNotFound
	}
	return vs[0], nil
}

// Versions implements storage.History.
func (s *Store) Versions(ctx context.Context, owner, name string) ([]storage.Version, error) {
	rows, err := s.db.WithContext(ctx).Raw(versionCols+` WHERE owner = ? AND name = ? ORDER BY version DESC`, owner, name).Rows()
	if err != nil {
		return nil, err
	}
	vs, err := scanVersions(rows, false)
	if err != nil {
		return nil, err
	}
	var last int64
	if len(vs) > 0 {
		last = vs[0].Version
	}
	cur, ok, err := s.current(ctx, owner, name, last)
	if err != nil {
		return nil, err
	}
	if ok {
		cur.Value = nil
		vs = append([]storage.Version{cur}, vs...)
	}
	if len(vs) == 0 {
		return nil, storage.ErrNotFound
	}
	return vs, nil
}

// prefixRange is the SQL condition and arguments of name under prefix.
func prefixRange(prefix string) (string, []any) {
	if prefix == "" {
		return "", nil
	}
	q, args := ` AND name >= ?`, []any{prefix}
	if end, ok := storage.PrefixEnd(prefix); ok {
		q += ` AND name < ?`
		args = append(args, end)
	}
	return q, args
}

// AsOf implements storage.History: per name, the newest version written
// by t, and a secret Put wrote by t outside the history when it is newer.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	db := s.db.WithContext(ctx)
	rng, rargs := prefixRange(prefix)
	at := ts(t)
	args := append(append([]any{owner}, rargs...), at, at)
	rows, err := db.Raw(versionCols+` v WHERE owner = ?`+rng+` AND created_at <= ?
		AND version = (SELECT MAX(version) FROM secret_versions w WHERE w.owner = v.owner AND w.name = v.name AND w.created_at <= ?)
		ORDER BY name`, args...).Rows()
	if err != nil {
		return nil, err
	}
	vs, err := scanVersions(rows, true)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	for i, v := range vs {
		byName[v.Name] = i
	}
	// Secrets written by Put outside the history (their version is newer
	// than any kept one).
	rows, err = db.Raw(`SELECT s.name, s.value, s.version, s.created_at, s.updated_at FROM secrets s
		WHERE s.owner = ?`+rng+` AND s.updated_at <= ?
		AND s.version > COALESCE((SELECT MAX(version) FROM secret_versions w WHERE w.owner = s.owner AND w.name = s.name), 0)`,
		append(append([]any{owner}, rargs...), at)...).Rows()
	if err != nil {
		return nil, err
	}
	secs, err := scanSecrets(rows, nil, nil)
	if err != nil {
		return nil, err
	}
	for _, sec := range secs {
		v := storage.Version{Name: sec.Name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt}
		if i, ok := byName[sec.Name]; ok {
			vs[i] = v
		} else {
			vs = append(vs, v)
		}
	}
	if len(secs) > 0 {
		storage.SortVersions(vs)
	}
	if vs == nil {
		vs = []storage.Version{}
	}
	return vs, nil
}

// Destroy implements storage.History.
func (s *Store) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	return s.inHistoryTx(ctx, func(tx *gorm.DB) error {
		err := s.counted(ctx, tx, owner, names, false, func(*sql.Tx) error {
			for start := 0; start < len(names); start += chunkRows {
				part := names[start:min(start+chunkRows, len(names))]
				if err := tx.Exec(`DELETE FROM secret_versions WHERE owner = ? AND name IN ?`, owner, part).Error; err != nil {
					return err
				}
				if err := tx.Exec(`DELETE FROM secrets WHERE owner = ? AND name IN ?`, owner, part).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if ev != nil {
			return s.appendAudit(ctx, tx, owner, []audit.Event{*ev})
		}
		return nil
	})
}

// PurgeHistory implements storage.History. It finds what to remove with
// one query each and removes it by primary key, which every dialect
// (MySQL included) can do without a subquery on the table it deletes from.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) error {
	db := s.db.WithContext(ctx)
	cut := ts(before)
	type key struct {
		Owner, Name string
		Version     int64
	}
	scan := func(q string) ([]key, error) {
		rows, err := db.Raw(q, cut).Rows()
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.Owner, &k.Name, &k.Version); err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, rows.Err()
	}
	gone, err := scan(`SELECT owner, name, version FROM secret_versions v WHERE deleted AND created_at < ?
		AND version = (SELECT MAX(version) FROM secret_versions w WHERE w.owner = v.owner AND w.name = v.name)`)
	if err != nil {
		return err
	}
	// Each removal in a transaction of its own, counted under its owner's
	// usage lock.
	remove := func(k key, q string) error {
		return s.inHistoryTx(ctx, func(tx *gorm.DB) error {
			return s.counted(ctx, tx, k.Owner, []string{k.Name}, false, func(*sql.Tx) error {
				return tx.Exec(q, k.Owner, k.Name, k.Version).Error
			})
		})
	}
	for _, k := range gone {
		err := remove(k, `DELETE FROM secret_versions WHERE owner = ? AND name = ? AND version <= ?`)
		if err != nil {
			return err
		}
	}
	old, err := scan(`SELECT owner, name, version FROM secret_versions v WHERE created_at < ?
		AND version < (SELECT MAX(version) FROM secret_versions w WHERE w.owner = v.owner AND w.name = v.name)`)
	if err != nil {
		return err
	}
	for _, k := range old {
		err := remove(k, `DELETE FROM secret_versions WHERE owner = ? AND name = ? AND version = ?`)
		if err != nil {
			return err
		}
	}
	return nil
}

// translate maps a driver error the way gorm's TranslateError does, so a
// raced primary key is gorm.ErrDuplicatedKey here too.
func translate(tx *gorm.DB, err error) error {
	if err == nil {
		return nil
	}
	if t, ok := tx.Dialector.(gorm.ErrorTranslator); ok {
		return t.Translate(err)
	}
	return err
}
