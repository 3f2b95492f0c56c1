package sqlstore

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// ListPage implements storage.Secrets: List's index range scan, from after
// on, with a LIMIT.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	q := `SELECT name, value, version, created_at, updated_at FROM secrets WHERE owner = ?`
	args := []any{owner}
	if after != "" {
		q += ` AND name > ?`
		args = append(args, after)
	} else if prefix != "" {
		q += ` AND name >= ?`
		args = append(args, prefix)
	}
	if prefix != "" {
		if end, ok := storage.PrefixEnd(prefix); ok {
			q += ` AND name < ?`
			args = append(args, end)
		}
	}
	args = append(args, limit)
	rows, err := s.db.WithContext(ctx).Raw(q+` ORDER BY name LIMIT ?`, args...).Rows()
	if err != nil {
		return nil, err
	}
	return scanSecrets(rows, make([]storage.Secret, 0, min(limit, 1024)), nil)
}
