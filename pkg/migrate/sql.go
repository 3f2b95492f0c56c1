package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/go-sql-driver/mysql" // "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// sqlSource reads the keyv table: keyv(key, value) on sqlite and
// PostgreSQL (@keyv/sqlite, @keyv/postgres), keyv(id, value) on MySQL
// (@keyv/mysql).
type sqlSource struct {
	db    *sql.DB
	query string
	count string
}

func openSQL(ctx context.Context, kind, uri string) (Source, error) {
	cfg, err := sqlstore.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	var driver, dsn, col string
	switch kind {
	case backends.SQLite:
		// Read-only by the file's own open mode: nothing can be written,
		// and a missing file is an error instead of a new empty database.
		abs, err := filepath.Abs(cfg.DSN)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, err
		}
		driver, col = "sqlite", `"key"`
		dsn = (&url.URL{Scheme: "file", Path: abs}).String() + "?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	case backends.Postgres:
		driver, dsn, col = "pgx", cfg.DSN, `"key"`
	case backends.MySQL:
		driver, dsn, col = "mysql", cfg.DSN, "`id`"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s := &sqlSource{
		db:    db,
		query: "SELECT " + col + ", value FROM keyv ORDER BY " + col,
		count: "SELECT COUNT(*) FROM keyv",
	}
	var n int64
	if err := db.QueryRowContext(ctx, s.count).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("no keyv table to read (is this the original server's database?): %v", err)
	}
	return s, nil
}

func (s *sqlSource) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.count).Scan(&n)
	return n, err
}

// Each reads in one read-only transaction, so the records are one
// snapshot where the database has them (PostgreSQL, MySQL InnoDB), and
// streams the rows: memory does not grow with the table.
func (s *sqlSource) Each(ctx context.Context, fn func(key string, stored []byte) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	rows, err := tx.QueryContext(ctx, s.query)
	if err != nil {
		return err
	}
	defer rows.Close()
	var key, value sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&key, &value); err != nil {
			return err
		}
		if value == nil {
			value = sql.RawBytes{} // a NULL value: not an envelope, refused
		}
		if err := fn(string(key), value); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqlSource) Close() error { return s.db.Close() }
