package cmdutil

import (
	"context"

	"github.com/spf13/cobra"

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

// StoreFactory hands the maintenance commands the store that serve would
// use, from the same settings (STORAGE_CONNECTION, MASTER_KEY, …).
type StoreFactory struct {
	IOStreams *IOStreams
	// Bind adds the store settings' flags to c and returns the function
	// that opens the store they name.
	Bind func(c *cobra.Command) func(ctx context.Context) (*Store, error)
}
