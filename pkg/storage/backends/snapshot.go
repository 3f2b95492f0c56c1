package backends

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// SnapshotFunc visits every secret, values as the layer it reads holds them.
type SnapshotFunc func(ctx context.Context, fn func(owner string, s storage.Secret) error) error

// Snapshot is the consistent read of the backend beneath the layers Open
// adds below the seal layer (sqlstore.Snapshot: one read transaction), or
// s.Walk when the backend has none (Redis, MongoDB, memory). Backups use
// it on seal.Store's Lower().
func Snapshot(s storage.Store) SnapshotFunc {
	for {
		switch v := s.(type) {
		case interface {
			Snapshot(context.Context, func(string, storage.Secret) error) error
		}:
			return v.Snapshot
		case locked:
			s = v.Store
		case *storage.Cache:
			s = v.Store
		case *storage.Checked:
			s = v.Store
		case *storage.Bounded:
			s = v.Store // a snapshot, like Walk, reads the whole store
		default:
			return s.Walk
		}
	}
}
