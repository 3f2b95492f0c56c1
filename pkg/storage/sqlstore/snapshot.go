package sqlstore

import (
	"context"
	"database/sql"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Snapshot calls fn for every secret in (owner, name) order, all read in
// one read-only transaction: a consistent copy while writers go on
// (backup). The rows stream, so memory does not grow with the table; fn
// must not write to this store.
func (s *Store) Snapshot(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect != SQLite { // an sqlite read transaction is a snapshot already
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.sqlDB.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	rows, err := tx.QueryContext(ctx,
		`SELECT owner, name, value, version, created_at, updated_at FROM secrets ORDER BY owner, name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var owner string
		var sec storage.Secret
		if err := rows.Scan(&owner, &sec.Name, &sec.Value, &sec.Version, &sec.CreatedAt, &sec.UpdatedAt); err != nil {
			return err
		}
		fix(&sec)
		if err := fn(owner, sec); err != nil {
			return err
		}
	}
	return rows.Err()
}
