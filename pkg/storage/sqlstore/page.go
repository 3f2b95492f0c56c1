package sqlstore

import (
	"context"

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
	kind, args := pageAll, make([]any, 1, 4)
	args[0] = owner
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
	rows, err := s.reads.page[kind].QueryContext(ctx, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	return scanSecrets(rows, make([]storage.Secret, 0, min(limit, 1024)), nil)
}
