package sqlstore

import (
	"context"
	"database/sql"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// walkPages is the keyset-paged read that every maintenance walk shares:
// first (no cursor), then next with the arguments after(last row) and the
// page size, walkPage rows at a time. Each page is read and its rows closed
// before fn sees them, so fn may write.
func walkPages[T any](ctx context.Context, s *Store, first, next string, after func(T) []any,
	scan func(*sql.Rows) (T, error), fn func(T) error) error {
	var last T
	for n := 0; ; n++ {
		var rows *sql.Rows
		var err error
		if n == 0 {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(first), walkPage)
		} else {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(next), append(after(last), walkPage)...)
		}
		if err != nil {
			return err
		}
		page, err := readRows(rows, scan)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		last = page[len(page)-1]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// owned is one row of a walk: a record and its owner.
type owned[T any] struct {
	owner string
	rec   T
}

// scanOwnedSecret scans owner, name, value, version, created_at, updated_at.
func scanOwnedSecret(rows *sql.Rows) (r owned[storage.Secret], err error) {
	err = rows.Scan(&r.owner, &r.rec.Name, &r.rec.Value, &r.rec.Version, &r.rec.CreatedAt, &r.rec.UpdatedAt)
	fix(&r.rec)
	return r, err
}

// readRows reads every row of rows through scan and closes rows, so the
// caller may write on the same connection afterwards.
func readRows[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
