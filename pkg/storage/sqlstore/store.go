// Package sqlstore implements storage.Store on SQLite, PostgreSQL and
// MySQL/MariaDB through gorm.
//
// Each of gorm's uses earns its place: writes go through gorm, whose upsert
// clauses render each dialect's ON CONFLICT / ON DUPLICATE KEY form and whose
// IN ? expands a list; the schema is plain DDL (see schema.go: gorm's
// AutoMigrate cannot say COLLATE "C" or VARBINARY). Reads never go through
// gorm: they are statements on the database/sql pool, rebound to the
// dialect once and prepared at open (see reads), except PostgreSQL's
// listing pages, which pgx scans itself on a connection of that pool
// (page.go). Writes that hit a deadlock,
// a serialisation failure or a busy SQLite database are retried, so
// concurrent writers to one key never see an error.
//
// SQLite runs in WAL mode with synchronous=NORMAL and busy_timeout=10s.
// Writes inside one process are serialised by a semaphore (SQLite has one
// writer at a time anyway; waiting in Go is fair and cheaper than the busy
// handler's sleeps), and every write transaction starts with BEGIN
// IMMEDIATE, so a transaction never has to upgrade a read lock and other
// processes wait on busy_timeout instead of failing with SQLITE_BUSY.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Pool sizes. One Store (one pool) per process.
const (
	sqliteConns = 8 // readers run in parallel under WAL; writers take turns
	// sqliteCacheKiB bounds each SQLite connection's page cache.
	sqliteCacheKiB = 256
	networkConns   = 20 // PostgreSQL and MySQL
	// As many idle as open: a smaller idle pool closes connections as soon
	// as a burst ends and reopens them on the next (a new PostgreSQL backend
	// process each time). Idle ones still go after connIdleLimit.
	networkIdle   = networkConns
	connLifetime  = 5 * time.Minute // below MySQL's and most proxies' idle cut-offs
	connIdleLimit = 2 * time.Minute

	chunkRows  = 500     // rows per INSERT/IN list: 6 × 500 parameters, under every limit
	chunkBytes = 8 << 20 // value bytes per INSERT, well under max_allowed_packet

	maxAttempts = 12
	purgeEvery  = 5 * time.Minute
	walkPage    = 100
)

// Store is a storage.Store on an SQL database.
type Store struct {
	db      *gorm.DB // writes
	sqlDB   *sql.DB  // the same pool, for reads (reads) and migrations
	dialect string
	qkey    string         // the column name key, quoted for the dialect
	txOpts  *sql.TxOptions // isolation for write transactions
	wsem    chan struct{}  // SQLite only: one writer at a time in this process

	reads       reads
	inLists     sync.Map // int → the GetMany query for that many names, rebound
	stateLists  sync.Map // int → the nameStates query for that many names
	insertSQLs  sync.Map // insertKey → a multi-row insert, rebound (audit.go)
	insertStmts sync.Map // insertKey → the same, prepared

	quota storage.Quota // quota.go

	janitor *storage.Janitor // purges expired nonces and counters
	hist    historyStmts     // history.go
}

// reads are the statements of the request path, prepared once at open: a
// statement prepared per query cost 15% of a prefix listing. Listings read
// name and value only; parsing the timestamps cost 15% more.
type reads struct {
	get, getMeta                *sql.Stmt
	listAll, listFrom, listSpan *sql.Stmt
	page                        [pageKinds]*sql.Stmt // page.go
	pgPage                      [pageKinds]string    // PostgreSQL: the same, rebound, for pgx
	pgValues                    [pageKinds]string    // PostgreSQL: the same reading name and value only (ListValues)
}

func (r *reads) all() []*sql.Stmt {
	return append([]*sql.Stmt{r.get, r.getMeta, r.listAll, r.listFrom, r.listSpan}, r.page[:]...)
}

var _ storage.Backend = (*Store)(nil)

// Open parses a STORAGE_CONNECTION URI (see ParseURI) and opens it.
func Open(ctx context.Context, uri string) (*Store, error) {
	cfg, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig opens the database, pings it, and creates or migrates the
// schema. For SQLite the file is created if missing, with mode 0600; its
// directory must exist.
func OpenConfig(ctx context.Context, cfg Config) (*Store, error) {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		s, err := openConfig(ctx, cfg)
		// Processes opening one new SQLite file at once can get SQLITE_BUSY
		// while another switches it to WAL (the pragmas and version query
		// of a connection's setup run before the busy timeout applies;
		// seen in TestConcurrentOpen under load): open again.
		if err == nil || cfg.Dialect != SQLite || !retryable(err) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

func openConfig(ctx context.Context, cfg Config) (*Store, error) {
	var dial gorm.Dialector
	switch cfg.Dialect {
	case SQLite:
		if _, err := sqlitePath(cfg.DSN); err != nil {
			return nil, err
		}
		dir := filepath.Dir(cfg.DSN)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("sqlite: directory %q does not exist (create it first; only the database file is created)", dir)
		}
		// Create the file owner-only; SQLite gives its -wal and -shm files
		// the same mode.
		if f, err := os.OpenFile(cfg.DSN, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			f.Close()
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("sqlite: creating %q: %v", cfg.DSN, err)
		}
		// _time_format=sqlite writes times as the glebarez driver did
		// ("2006-01-02 15:04:05.999999999-07:00"), so files written before
		// read and compare the same.
		// cache_size: SQLite keeps a page cache per connection (2 MiB by
		// default, in this process's heap with modernc), and the pool holds
		// sqliteConns of them: 8 parallel audit scans took RSS 30 MiB over
		// idle, 7.5 MiB at 256 KiB each (bench/auditrss). The file's pages
		// stay in the OS's cache, shared.
		dial = sqliteDialect{dsn: cfg.DSN + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
			"&_pragma=cache_size(-" + strconv.Itoa(sqliteCacheKiB) + ")&_txlock=immediate&_time_format=sqlite"}
	case Postgres:
		dial = postgres.New(postgres.Config{DSN: cfg.DSN, OptionOpenDB: pgOptions(cfg.DSN)})
	case MySQL:
		dial = mysql.New(mysql.Config{DSN: cfg.DSN, SkipInitializeWithVersion: true})
	default:
		return nil, fmt.Errorf("unknown SQL dialect %q", cfg.Dialect)
	}
	db, err := gorm.Open(dial, &gorm.Config{
		Logger:                 logger.Discard, // never log statements: they carry values
		SkipDefaultTransaction: true,
		TranslateError:         true,
		DisableAutomaticPing:   true,
		NowFunc:                now,
	})
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, sqlDB: sqlDB, dialect: cfg.Dialect}
	s.janitor = storage.NewJanitor(purgeEvery, func(ctx context.Context) { _ = s.purge(ctx) })
	var q strings.Builder
	db.Dialector.QuoteTo(&q, "key")
	s.qkey = q.String()

	switch cfg.Dialect {
	case SQLite:
		sqlDB.SetMaxOpenConns(sqliteConns)
		sqlDB.SetMaxIdleConns(sqliteConns)
		s.wsem = make(chan struct{}, 1)
	default:
		sqlDB.SetMaxOpenConns(networkConns)
		sqlDB.SetMaxIdleConns(networkIdle)
		sqlDB.SetConnMaxLifetime(connLifetime)
		sqlDB.SetConnMaxIdleTime(connIdleLimit)
	}
	if cfg.Dialect == MySQL {
		// REPEATABLE READ adds gap locks that make concurrent upserts
		// deadlock far more often; nothing here needs more than this.
		s.txOpts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}

	if err := s.open(ctx); err != nil {
		s.janitor.Close()
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&s.reads.get, `SELECT value, version, created_at, updated_at FROM secrets WHERE owner = ? AND name = ?`},
		{&s.reads.getMeta, `SELECT value FROM meta WHERE ` + s.qkey + ` = ?`},
		{&s.reads.listAll, list + ` ORDER BY name`},
		{&s.reads.listFrom, list + ` AND name >= ? ORDER BY name`},
		{&s.reads.listSpan, list + ` AND name >= ? AND name < ? ORDER BY name`},
	} {
		var err error
		if *p.dst, err = s.sqlDB.PrepareContext(ctx, s.rebind(p.q)); err != nil {
			return err
		}
	}
	for kind, q := range pageShapes {
		if s.dialect == Postgres {
			s.reads.pgPage[kind] = s.rebind(q)
			s.reads.pgValues[kind] = s.rebind(strings.Replace(q, pageCols, list, 1))
		}
		var err error
		if s.reads.page[kind], err = s.sqlDB.PrepareContext(ctx, s.rebind(q)); err != nil {
			return err
		}
	}
	return nil
}

// inList is the GetMany query for n names, rebound once per n.
func (s *Store) inList(n int) string {
	if q, ok := s.inLists.Load(n); ok {
		return q.(string)
	}
	q := s.rebind(`SELECT name, value FROM secrets WHERE owner = ? AND name IN (?` +
		strings.Repeat(", ?", n-1) + `)`)
	s.inLists.Store(n, q)
	return q
}

// list is the start of a listing's query: names and values only.
const list = `SELECT name, value FROM secrets WHERE owner = ?`

// Dialect reports SQLite, Postgres or MySQL.
func (s *Store) Dialect() string { return s.dialect }

// rebind turns ? placeholders into the dialect's ($1, $2, … on PostgreSQL),
// letting gorm render them.
func (s *Store) rebind(q string) string {
	args := make([]any, strings.Count(q, "?"))
	for i := range args {
		args[i] = 0
	}
	return s.db.Session(&gorm.Session{DryRun: true, NewDB: true}).Raw(q, args...).Statement.SQL.String()
}

// now is the store's clock: UTC, in microseconds, which every backend keeps
// exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

type secretRow struct {
	Owner     string    `gorm:"column:owner;primaryKey"`
	Name      string    `gorm:"column:name;primaryKey"`
	Value     []byte    `gorm:"column:value"`
	Version   int64     `gorm:"column:version"`
	CreatedAt time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"column:updated_at;autoUpdateTime:false"`
}

func (secretRow) TableName() string { return "secrets" }

type nonceRow struct {
	Nonce     string    `gorm:"column:nonce;primaryKey"`
	ExpiresAt time.Time `gorm:"column:expires_at"`
}

func (nonceRow) TableName() string { return "nonces" }

type counterRow struct {
	Key       string    `gorm:"column:key;primaryKey"`
	N         int64     `gorm:"column:n"`
	ExpiresAt time.Time `gorm:"column:expires_at"`
}

func (counterRow) TableName() string { return "counters" }

type metaRow struct {
	Key   string `gorm:"column:key;primaryKey"`
	Value []byte `gorm:"column:value"`
}

func (metaRow) TableName() string { return "meta" }

// upsertSecrets inserts with version 1 or overwrites value and updated_at,
// bumping version and keeping created_at. The column is qualified so the
// expression reads the stored row on all three dialects.
var upsertSecrets = clause.OnConflict{
	Columns: []clause.Column{{Name: "owner"}, {Name: "name"}},
	DoUpdates: []clause.Assignment{
		{Column: clause.Column{Name: "value"}, Value: clause.Column{Table: "excluded", Name: "value"}},
		{Column: clause.Column{Name: "updated_at"}, Value: clause.Column{Table: "excluded", Name: "updated_at"}},
		{Column: clause.Column{Name: "version"}, Value: gorm.Expr("secrets.version + 1")},
	},
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, owner, name string) (storage.Secret, error) {
	sec := storage.Secret{Name: name}
	err := s.reads.get.QueryRowContext(ctx, owner, name).Scan(&sec.Value, &sec.Version, &sec.CreatedAt, &sec.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Secret{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Secret{}, err
	}
	fix(&sec)
	return sec, nil
}

func fix(sec *storage.Secret) {
	if sec.Value == nil {
		sec.Value = []byte{}
	}
	sec.CreatedAt = sec.CreatedAt.UTC()
	sec.UpdatedAt = sec.UpdatedAt.UTC()
}

// GetMany implements storage.Store.
func (s *Store) GetMany(ctx context.Context, owner string, names []string) ([]storage.Secret, error) {
	out := make([]storage.Secret, 0, len(names))
	for start := 0; start < len(names); start += chunkRows {
		part := names[start:min(start+chunkRows, len(names))]
		args := make([]any, 0, 1+len(part))
		args = append(args, owner)
		for _, n := range part {
			args = append(args, n)
		}
		rows, err := s.sqlDB.QueryContext(ctx, s.inList(len(part)), args...)
		if err != nil {
			return nil, err
		}
		if out, err = scanListing(rows, out); err != nil {
			return nil, err
		}
	}
	storage.SortSecrets(out)
	return out, nil
}

// List implements storage.Store. The prefix becomes an index range,
// name >= prefix AND name < PrefixEnd(prefix), so no character is a
// wildcard and the cost grows with the result.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	var rows *sql.Rows
	var err error
	end, bounded := storage.PrefixEnd(prefix)
	switch {
	case prefix == "":
		rows, err = s.reads.listAll.QueryContext(ctx, owner)
	case bounded:
		rows, err = s.reads.listSpan.QueryContext(ctx, owner, prefix, end)
	default:
		rows, err = s.reads.listFrom.QueryContext(ctx, owner, prefix)
	}
	if err != nil {
		return nil, err
	}
	return scanListing(rows, []storage.Secret{})
}

// scanListing appends the rows (name, value) and closes rows.
func scanListing(rows *sql.Rows, out []storage.Secret) ([]storage.Secret, error) {
	defer rows.Close()
	for rows.Next() {
		var sec storage.Secret
		if err := rows.Scan(&sec.Name, &sec.Value); err != nil {
			return nil, err
		}
		if sec.Value == nil {
			sec.Value = []byte{}
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// scanSecrets appends the rows (name, value, version, created_at,
// updated_at), preceded by owner when owners is not nil, and closes rows.
func scanSecrets(rows *sql.Rows, out []storage.Secret, owners *[]string) ([]storage.Secret, error) {
	defer rows.Close()
	for rows.Next() {
		var sec storage.Secret
		dest := []any{&sec.Name, &sec.Value, &sec.Version, &sec.CreatedAt, &sec.UpdatedAt}
		var owner string
		if owners != nil {
			dest = append([]any{&owner}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		fix(&sec)
		out = append(out, sec)
		if owners != nil {
			*owners = append(*owners, owner)
		}
	}
	return out, rows.Err()
}

// Put implements storage.Store: one transaction of batched upserts, under
// the owner's usage lock. A name new to the secrets table starts at the
// version after its kept history, so it reads as the newest version.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	t := now()
	rows := make([]secretRow, len(items))
	for i, it := range items {
		rows[i] = secretRow{Owner: owner, Name: it.Name, Value: storage.NonNil(it.Value), Version: 1, CreatedAt: t, UpdatedAt: t}
	}
	return s.inHistoryTx(ctx, func(gtx *gorm.DB) error {
		tx, err := sqlTx(gtx)
		if err != nil {
			return err
		}
		if len(items) > chunkRows {
			u, err := s.lockUsage(ctx, gtx, tx, owner)
			if err != nil {
				return err
			}
			return s.putMany(ctx, gtx, tx, u, rows, t)
		}
		ctx := s.stmtCtx(ctx)
		gtx = gtx.WithContext(ctx)
		u, err := s.lockUsage(ctx, gtx, tx, owner)
		if err != nil {
			return err
		}
		for start := 0; start < len(items); start += chunkRows {
			part := items[start:min(start+chunkRows, len(items))]
			states, err := s.nameStates(ctx, tx, owner, storage.ItemNames(part))
			if err != nil {
				return err
			}
			for i, it := range part {
				st := states[it.Name]
				after := st
				after.hasCur, after.curLen = true, int64(len(it.Value))
				if st.hasCur {
					after.cur = st.cur + 1
				} else {
					after.cur = st.vmax + 1
					rows[start+i].Version = after.cur
				}
				u.add(diff(st, after))
			}
		}
		if err := u.check(s.quota); err != nil {
			return err
		}
		if err := upsertRows(gtx, rows); err != nil {
			return err
		}
		return s.saveUsage(ctx, tx, u)
	})
}

// upsertRows writes rows in batches of chunkRows and chunkBytes.
func upsertRows(gtx *gorm.DB, rows []secretRow) error {
	for start := 0; start < len(rows); {
		end, size := start, 0
		for end < len(rows) && end-start < chunkRows && (end == start || size+len(rows[end].Value) <= chunkBytes) {
			size += len(rows[end].Value)
			end++
		}
		part := rows[start:end]
		if err := gtx.Clauses(upsertSecrets).Create(&part).Error; err != nil {
			return err
		}
		start = end
	}
	return nil
}

// putMany is a Put of more than chunkRows items (imports, restores): the
// rows are written, then the owner counted again from the data, which
// for big batches costs less than reading every name first (20,000 keys:
// 40 lookups of 1,000 parameters, each parsed anew by SQLite). A batch
// past the quota is refused and rolled back.
func (s *Store) putMany(ctx context.Context, gtx *gorm.DB, tx *sql.Tx, u *usageTx, rows []secretRow, t time.Time) error {
	if err := upsertRows(gtx, rows); err != nil {
		return err
	}
	// A name new to the secrets table starts after its kept history.
	err := gtx.Exec(`UPDATE secrets SET version = 1 + (SELECT MAX(version) FROM secret_versions v WHERE v.owner = secrets.owner AND v.name = secrets.name)
		WHERE owner = ? AND updated_at = ? AND version <= (SELECT MAX(version) FROM secret_versions v WHERE v.owner = secrets.owner AND v.name = secrets.name)`,
		u.owner, t).Error
	if err != nil {
		return err
	}
	if u.after, err = s.countOwner(ctx, tx, u.owner); err != nil {
		return err
	}
	if err := u.check(s.quota); err != nil {
		return err
	}
	return s.saveUsage(ctx, tx, u)
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, owner string, names []string) error {
	return s.inHistoryTx(ctx, func(gtx *gorm.DB) error {
		return s.counted(ctx, gtx, owner, names, false, func(*sql.Tx) error {
			for start := 0; start < len(names); start += chunkRows {
				part := names[start:min(start+chunkRows, len(names))]
				if err := gtx.Exec(`DELETE FROM secrets WHERE owner = ? AND name IN ?`, owner, part).Error; err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// Walk implements storage.Store. It reads pages in (owner, name) order and
// holds no cursor or lock while fn runs, so fn may write.
func (s *Store) Walk(ctx context.Context, fn func(owner string, s storage.Secret) error) error {
	const cols = `SELECT owner, name, value, version, created_at, updated_at FROM secrets`
	return walkPages(ctx, s,
		cols+` ORDER BY owner, name LIMIT ?`,
		cols+` WHERE owner > ? OR (owner = ? AND name > ?) ORDER BY owner, name LIMIT ?`,
		func(r owned[storage.Secret]) []any { return []any{r.owner, r.owner, r.rec.Name} },
		scanOwnedSecret,
		func(r owned[storage.Secret]) error { return fn(r.owner, r.rec) })
}

// errSwapMissed rolls back a Swap whose value had changed.
var errSwapMissed = errors.New("sqlstore: swapped value changed")

// Swap implements storage.Store. version and updated_at stay as they are;
// the owner's usage follows the new size.
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	old, new = storage.NonNil(old), storage.NonNil(new)
	if string(old) == string(new) {
		// MySQL counts only changed rows, so an UPDATE to the same value
		// would look like a mismatch: check instead.
		var n int64
		err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM secrets WHERE owner = ? AND name = ? AND value = ?`),
			owner, name, old).Scan(&n)
		return n == 1, err
	}
	var ok bool
	err := s.inTx(ctx, func(gtx *gorm.DB) error {
		// A rekey may change sealed sizes: counted, never refused. Two
		// short statements, the usage row first as in every write (rekey
		// swaps every value, under STORE_TIMEOUT each): the size changes
		// the count only for a value Put wrote outside the history; an
		// owner not counted yet is counted later from the data.
		err := gtx.Exec(`UPDATE quota_usage SET bytes = bytes + ? WHERE owner = ? AND EXISTS (SELECT 1 FROM secrets s
			WHERE s.owner = ? AND s.name = ? AND s.value = ?
			AND s.version > COALESCE((SELECT MAX(version) FROM secret_versions v WHERE v.owner = s.owner AND v.name = s.name), 0))`,
			len(new)-len(old), owner, owner, name, old).Error
		if err != nil {
			return err
		}
		res := gtx.Exec(`UPDATE secrets SET value = ? WHERE owner = ? AND name = ? AND value = ?`,
			new, owner, name, old)
		ok = res.RowsAffected == 1
		if res.Error == nil && !ok {
			return errSwapMissed // roll the count back
		}
		return res.Error
	})
	if errors.Is(err, errSwapMissed) {
		err = nil
	}
	return ok, err
}

// UseNonce implements storage.Store. Expired nonces are purged now and
// then, after which the same nonce counts as new again.
func (s *Store) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	s.janitor.Poke()
	var ok bool
	err := s.write(ctx, func() error {
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "nonce"}}, DoNothing: true}).
			Create(&nonceRow{Nonce: nonce, ExpiresAt: ts(expires)})
		ok = res.RowsAffected == 1
		return res.Error
	})
	return ok, err
}

// Incr implements storage.Store: an upsert that restarts an expired
// counter, then a read of the total inside the same transaction (MySQL has
// no RETURNING), so concurrent increments add up exactly.
func (s *Store) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	s.janitor.Poke()
	t, exp := now(), ts(expires)
	// n is assigned before expires_at: MySQL evaluates SET left to right,
	// so the CASE on expires_at must see the old value.
	upsert := clause.OnConflict{
		Columns: []clause.Column{{Name: "key"}},
		DoUpdates: []clause.Assignment{
			{Column: clause.Column{Name: "n"}, Value: gorm.Expr(`CASE WHEN counters.expires_at <= ? THEN ? ELSE counters.n + ? END`, t, n, n)},
			{Column: clause.Column{Name: "expires_at"}, Value: gorm.Expr(`CASE WHEN counters.expires_at <= ? THEN ? ELSE counters.expires_at END`, t, exp)},
		},
	}
	var total int64
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Clauses(upsert).Create(&counterRow{Key: key, N: n, ExpiresAt: exp}).Error; err != nil {
			return err
		}
		return tx.Raw(`SELECT n FROM counters WHERE `+s.qkey+` = ?`, key).Row().Scan(&total)
	})
	return total, err
}

// GetMeta implements storage.Store.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.reads.getMeta.QueryRowContext(ctx, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if v == nil && err == nil {
		v = []byte{}
	}
	return v, err
}

// InitMeta implements storage.Store.
func (s *Store) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	var stored []byte
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).
			Create(&metaRow{Key: key, Value: storage.NonNil(value)}).Error
		if err != nil {
			return err
		}
		return tx.Raw(`SELECT value FROM meta WHERE `+s.qkey+` = ?`, key).Row().Scan(&stored)
	})
	if stored == nil && err == nil {
		stored = []byte{}
	}
	return stored, err
}

// PutMeta implements storage.Store.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	upsert := clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value"})}
	return s.write(ctx, func() error {
		return s.db.WithContext(ctx).Clauses(upsert).Create(&metaRow{Key: key, Value: storage.NonNil(value)}).Error
	})
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error { return s.sqlDB.PingContext(ctx) }

// Close implements storage.Store. It waits for a running purge to stop.
func (s *Store) Close() error {
	if !s.janitor.Close() {
		return nil
	}
	for _, st := range s.reads.all() {
		if st != nil {
			st.Close()
		}
	}
	return s.sqlDB.Close()
}

func (s *Store) purge(ctx context.Context) error {
	t := now()
	for _, table := range []string{"nonces", "counters"} {
		err := s.write(ctx, func() error {
			return s.db.WithContext(ctx).Exec(`DELETE FROM `+table+` WHERE expires_at < ?`, t).Error
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stmtCtx is the context for the short statements of a write transaction
// (Commit's, a Put's of at most chunkRows): on SQLite, ctx without its
// cancellation. The driver starts a goroutine for every statement whose
// context can end, to interrupt it, which cost a Commit's eight statements
// more than they took to run. Inside a transaction BEGIN IMMEDIATE opened
// they wait for no lock and each runs in microseconds; the transaction
// still ends with ctx, since database/sql rolls it back when the context
// BeginTx got is done, so a cancelled write stops at its next statement and
// never commits. PostgreSQL and MySQL keep ctx: a statement there can hang
// on the network.
func (s *Store) stmtCtx(ctx context.Context) context.Context {
	if s.dialect == SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// inTx runs fn in one transaction, retried as a whole (see write).
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.write(ctx, func() error { return s.db.WithContext(ctx).Transaction(fn, s.txOpts) })
}

// write runs a write, holding the SQLite writer slot, and retries it with
// jittered backoff while it fails with a transient conflict.
func (s *Store) write(ctx context.Context, fn func() error) error {
	if s.wsem != nil {
		select {
		case s.wsem <- struct{}{}:
			defer func() { <-s.wsem }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		d := backoff/2 + rand.N(backoff)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}
