package sqlstore

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Driver opens sqlite://, postgres://, postgresql:// and mysql:// URIs
// (see ParseURI); its Unavailable picks a failover's errors.
var Driver = storage.Driver{
	Schemes:     []string{"sqlite", "postgres", "postgresql", "mysql"},
	Parse:       storage.ParseWith(ParseURI),
	Unavailable: Unavailable,
}

// Engine implements storage.Config: the dialect.
func (c Config) Engine() string { return c.Dialect }

// Open implements storage.Config (see OpenConfig).
func (c Config) Open(ctx context.Context, _ storage.OpenOptions) (storage.Backend, error) {
	return storage.Opened(OpenConfig(ctx, c))
}
