package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// ListValues implements storage.ValueLister: ListPage, whose versions and
// times cost nothing here.
func (s *Store) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	return s.ListPage(ctx, owner, prefix, after, limit)
}

// ListPage implements storage.Secrets.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	out := []storage.Secret{}
	err := s.read(ctx, func() {
		ns := s.owners[owner]
		if ns == nil {
			return
		}
		i, _ := slices.BinarySearch(ns.names, prefix)
		if after != "" {
			j, found := slices.BinarySearch(ns.names, after)
			if found {
				j++
			}
			i = max(i, j)
		}
		for ; i < len(ns.names) && len(out) < limit && strings.HasPrefix(ns.names[i], prefix); i++ {
			out = append(out, clone(ns.secrets[ns.names[i]]))
		}
	})
	return out, err
}
