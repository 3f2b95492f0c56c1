package cmdutil

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Store is this server's configured store as the maintenance commands
// (migrate, backup, restore) use it: the whole stack, plaintext above the
// seal layer and values as stored in Plain.Lower().
type Store struct {
	Plain *seal.Store
	URI   string // STORAGE_CONNECTION
	// Snapshot visits every secret of Plain.Lower(), values sealed, from
	// one read transaction where the backend has them, else by Walk.
	Snapshot func(ctx context.Context, fn func(owner string, s storage.Secret) error) error
	Close    func()
}
