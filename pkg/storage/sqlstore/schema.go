package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// schemaVersion is the newest schema this code knows. It is kept in the
// meta table under schemaKey.
const (
	schemaVersion = 4
	schemaKey     = "storage.schema_version"
)

// migrations[i] brings the schema from version i to i+1, per dialect. Every
// statement is idempotent, so a migration that died half-way can run again.
var migrations = []map[string][]string{
	{
		// Names and owners compare byte for byte: BINARY collation on
		// SQLite, COLLATE "C" on PostgreSQL, VARBINARY on MySQL (a _bin
		// collation would be PAD SPACE there: "a" = "a ").
		SQLite: {
			`CREATE TABLE IF NOT EXISTS secrets (
				owner TEXT NOT NULL,
				name TEXT NOT NULL,
				value BLOB NOT NULL,
				version INTEGER NOT NULL,
				created_at DATETIME NOT NULL,
				updated_at DATETIME NOT NULL,
				PRIMARY KEY (owner, name))`,
			`CREATE TABLE IF NOT EXISTS nonces (
				nonce TEXT NOT NULL PRIMARY KEY,
				expires_at DATETIME NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces (expires_at)`,
			`CREATE TABLE IF NOT EXISTS counters (
				"key" TEXT NOT NULL PRIMARY KEY,
				n INTEGER NOT NULL,
				expires_at DATETIME NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at)`,
		},
		Postgres: {
			`CREATE TABLE IF NOT EXISTS secrets (
				owner text COLLATE "C" NOT NULL,
				name text COLLATE "C" NOT NULL,
				value bytea NOT NULL,
				version bigint NOT NULL,
				created_at timestamptz NOT NULL,
				updated_at timestamptz NOT NULL,
				PRIMARY KEY (owner, name))`,
			`CREATE TABLE IF NOT EXISTS nonces (
				nonce text COLLATE "C" NOT NULL PRIMARY KEY,
				expires_at timestamptz NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces (expires_at)`,
			`CREATE TABLE IF NOT EXISTS counters (
				"key" text COLLATE "C" NOT NULL PRIMARY KEY,
				n bigint NOT NULL,
				expires_at timestamptz NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at)`,
		},
		MySQL: {
			"CREATE TABLE IF NOT EXISTS secrets (" +
				"owner VARBINARY(512) NOT NULL," +
				"name VARBINARY(512) NOT NULL," +
				"value LONGBLOB NOT NULL," +
				"version BIGINT NOT NULL," +
				"created_at DATETIME(6) NOT NULL," +
				"updated_at DATETIME(6) NOT NULL," +
				"PRIMARY KEY (owner, name)" +
				") ENGINE=InnoDB",
			"CREATE TABLE IF NOT EXISTS nonces (" +
				"nonce VARBINARY(512) NOT NULL PRIMARY KEY," +
				"expires_at DATETIME(6) NOT NULL," +
				"INDEX nonces_expires_at (expires_at)" +
				") ENGINE=InnoDB",
			"CREATE TABLE IF NOT EXISTS counters (" +
				"`key` VARBINARY(512) NOT NULL PRIMARY KEY," +
				"n BIGINT NOT NULL," +
				"expires_at DATETIME(6) NOT NULL," +
				"INDEX counters_expires_at (expires_at)" +
				") ENGINE=InnoDB",
		},
	},
	historyMigration, // history.go
	quotaMigration,   // quota.go
	auditMigration,   // audit.go
}

// migrationSteps[i], when set, runs after the statements of migrations[i],
// on the same connection or transaction: the upgrades that SQL alone
// cannot say in every dialect (reading JSON, adding a column once). Each
// is idempotent too.
var migrationSteps = map[int]func(ctx context.Context, s *Store, db execer) error{
	3: upgradeAudit, // audit.go
}

// metaDDL creates the meta table, which holds the schema version and so
// exists before any migration runs.
var metaDDL = map[string]string{
	SQLite:   `CREATE TABLE IF NOT EXISTS meta ("key" TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL)`,
	Postgres: `CREATE TABLE IF NOT EXISTS meta ("key" text COLLATE "C" NOT NULL PRIMARY KEY, value bytea NOT NULL)`,
	MySQL:    "CREATE TABLE IF NOT EXISTS meta (`key` VARBINARY(512) NOT NULL PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE=InnoDB",
}

// migrate creates or upgrades the schema. On PostgreSQL and MySQL it holds
// an advisory lock on one connection for the whole time, so several
// processes starting at once migrate one after the other; on SQLite one
// BEGIN IMMEDIATE transaction serialises them.
func (s *Store) migrate(ctx context.Context) (err error) {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	switch s.dialect {
	case Postgres:
		// Advisory locks are scoped to the current database.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7207126381604071217)`); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		defer func() {
			if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7207126381604071217)`); uerr != nil && err == nil {
				err = uerr
			}
		}()
	case MySQL:
		// GET_LOCK names are server-wide: include the database.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT('nosana-secrets:', LEFT(SHA1(DATABASE()), 20)), 120)").Scan(&got); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return errors.New("taking the migration lock: timed out after 120s")
		}
		defer func() {
			if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(CONCAT('nosana-secrets:', LEFT(SHA1(DATABASE()), 20)))"); uerr != nil && err == nil {
				err = uerr
			}
		}()
	}

	var db execer = conn
	if s.dialect == SQLite {
		// One BEGIN IMMEDIATE transaction (see _txlock in Open): other
		// processes wait on busy_timeout, then find the schema in place.
		s.wsem <- struct{}{}
		defer func() { <-s.wsem }()
		var tx *sql.Tx
		if tx, err = conn.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("starting the migration: %w", err)
		}
		defer func() {
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}()
		db = tx
	}

	if _, err := db.ExecContext(ctx, metaDDL[s.dialect]); err != nil {
		return fmt.Errorf("creating table meta: %w", err)
	}
	current := 0
	var raw []byte
	err = db.QueryRowContext(ctx, s.rebind(`SELECT value FROM meta WHERE `+s.qkey+` = ?`), schemaKey).Scan(&raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("reading the schema version: %w", err)
	default:
		if current, err = strconv.Atoi(string(raw)); err != nil {
			return fmt.Errorf("schema version %q in table meta is not a number", raw)
		}
	}
	if current > schemaVersion {
		return fmt.Errorf("the database has schema version %d, newer than this program knows (%d): upgrade nosana-secrets", current, schemaVersion)
	}
	for v := current; v < schemaVersion; v++ {
		for _, stmt := range migrations[v][s.dialect] {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
			}
		}
		if step := migrationSteps[v]; step != nil {
			if err := step(ctx, s, db); err != nil {
				return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
			}
		}
		if err := s.setSchemaVersion(ctx, db, v+1, v > 0 || current > 0); err != nil {
			return err
		}
	}
	return nil
}

// execer is a *sql.Conn or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) setSchemaVersion(ctx context.Context, conn execer, v int, exists bool) error {
	q := `INSERT INTO meta (` + s.qkey + `, value) VALUES (?, ?)`
	args := []any{schemaKey, []byte(strconv.Itoa(v))}
	if exists {
		q = `UPDATE meta SET value = ? WHERE ` + s.qkey + ` = ?`
		args = []any{[]byte(strconv.Itoa(v)), schemaKey}
	}
	if _, err := conn.ExecContext(ctx, s.rebind(q), args...); err != nil {
		return fmt.Errorf("recording schema version %d: %w", v, err)
	}
	return nil
}
