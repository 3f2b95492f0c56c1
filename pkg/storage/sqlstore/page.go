package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// pageCols are the columns of a page; ListPage carries versions and times.
const pageCols = `SELECT name, value, version, created_at, updated_at FROM secrets WHERE owner = ?`

// pageShapes are ListPage's statements, one per kind of range: the start
// (none, name >= prefix, or name > after) and whether the prefix bounds
// the end. Prepared at open with the other reads.
var pageShapes = [pageKinds]string{
	pageAll:       pageCols + ` ORDER BY name LIMIT ?`,
	pageAfter:     pageCols + ` AND name > ? ORDER BY name LIMIT ?`,
	pageFrom:      pageCols + ` AND name >= ? ORDER BY name LIMIT ?`,
	pageAfterSpan: pageCols + ` AND name > ? AND name < ? ORDER BY name LIMIT ?`,
	pageFromSpan:  pageCols + ` AND name >= ? AND name < ? ORDER BY name LIMIT ?`,
}

const (
	pageAll = iota
	pageAfter
	pageFrom
	pageAfterSpan
	pageFromSpan
	pageKinds
)

// ListPage implements storage.Secrets: List's index range scan, from after
// on, with a LIMIT.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	kind, args := pageArgs(append(make([]any, 0, 4), owner), prefix, after, limit)
	out := make([]storage.Secret, 0, min(limit, 1024))
	if s.dialect == Postgres {
		return s.pgPage(ctx, kind, args, out)
	}
	rows, err := s.reads.page[kind].QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanSecrets(rows, out, nil)
}

// pageArgs appends a page's range arguments to args (its owner, and for
// pgx its result formats) and says which of pageShapes takes them.
func pageArgs(args []any, prefix, after string, limit int) (int, []any) {
	kind := pageAll
	switch {
	case after != "":
		kind, args = pageAfter, append(args, after)
	case prefix != "":
		kind, args = pageFrom, append(args, prefix)
	}
	if prefix != "" {
		if end, ok := storage.PrefixEnd(prefix); ok {
			kind, args = kind+2, append(args, end) // the …Span form of the same start
		}
	}
	return kind, append(args, limit)
}

// pgPage is ListPage on PostgreSQL through pgx itself, on a connection of
// the same pool: database/sql boxes every column of every row in a
// driver.Value and copies each value twice (scanning was 46% of a
// PostgreSQL listing's CPU). pgx prepares the statement once per
// connection and scans binary columns straight into the fields.
func (s *Store) pgPage(ctx context.Context, kind int, args []any, out []storage.Secret) ([]storage.Secret, error) {
	err := s.pgQuery(ctx, s.reads.pgPage[kind], args, func(rows pgx.Rows) error {
		var sec storage.Secret
		dest := []any{&sec.Name, &sec.Value, &sec.Version, &sec.CreatedAt, &sec.UpdatedAt}
		for rows.Next() {
			sec = storage.Secret{}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			fix(&sec)
			out = append(out, sec)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pgQuery runs q through pgx on a connection of the pool and hands its
// rows to read, closing them after.
func (s *Store) pgQuery(ctx context.Context, q string, args []any, read func(pgx.Rows) error) error {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: a PostgreSQL connection of type %T", dc)
		}
		rows, err := c.Conn().Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return read(rows)
	})
}

// rawFormats asks PostgreSQL for both columns in binary, in which text
// and bytea are their bytes as they are.
var rawFormats = pgx.QueryResultFormats{pgx.BinaryFormatCode, pgx.BinaryFormatCode}

// ListValues implements storage.ValueLister. On PostgreSQL a page reads two
// columns, not the three more a legacy listing never shows, straight from
// pgx's read buffer (RawValues), with the values copied into shared chunks
// of memory rather than one allocation each. Other dialects list with
// ListPage: their listings are served by the read cache (sqlite) or are
// not on the hot path.
func (s *Store) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	if s.dialect != Postgres {
		return s.ListPage(ctx, owner, prefix, after, limit)
	}
	kind, args := pageArgs(append(make([]any, 0, 5), rawFormats, owner), prefix, after, limit)
	out := make([]storage.Secret, 0, min(limit, 1024))
	err := s.pgQuery(ctx, s.reads.pgValues[kind], args, func(rows pgx.Rows) error {
		var err error
		out, err = copyRows(rows, out)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// valueChunk is the size of the chunks copyRows copies values into: few
// allocations, and no more than a chunk's tail allocated beyond the values.
const valueChunk = 4 << 10

// copyRows appends the rows (name, value) to out. The
// page's names share one string, made once at the end, not one each.
func copyRows(rows pgx.Rows, out []storage.Secret) ([]storage.Secret, error) {
	var chunk, names []byte
	start, ends := len(out), make([]int, 0, cap(out)-len(out))
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 2 || raw[0] == nil {
			return nil, fmt.Errorf("sqlstore: a listing row of %d columns", len(raw))
		}
		v := raw[1]
		if len(v) > cap(chunk)-len(chunk) {
			chunk = make([]byte, 0, max(valueChunk, len(v)))
		}
		at := len(chunk)
		chunk = append(chunk, v...)
		names = append(names, raw[0]...)
		ends = append(ends, len(names))
		out = append(out, storage.Secret{Value: chunk[at:len(chunk):len(chunk)]})
	}
	all, from := string(names), 0
	for i, end := range ends {
		out[start+i].Name = all[from:end]
		from = end
	}
	return out, rows.Err()
}
