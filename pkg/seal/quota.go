package seal

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

var _ storage.Quotas = (*Store)(nil)

// Quotas count sealed bytes, as the backend stores them.

// CountsQuota reports whether the backend counts use and enforces quotas.
func (s *Store) CountsQuota() bool { return storage.CountsQuota(s.Store) }

// SetQuota implements storage.Quotas.
func (s *Store) SetQuota(q storage.Quota) {
	if l, err := storage.LowerQuotas(s.Store); err == nil {
		l.SetQuota(q)
	}
}

// Usage implements storage.Quotas.
func (s *Store) Usage(ctx context.Context, owner string) (storage.Usage, error) {
	l, err := storage.LowerQuotas(s.Store)
	if err != nil {
		return storage.Usage{}, err
	}
	return l.Usage(ctx, owner)
}
