package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Recount counts owner's usage from what the store keeps, as the layout
// migration does, and returns it (the usage hash is set to it too).
func (s *Store) Recount(ctx context.Context, owner string) (storage.Usage, error) {
	if err := recountScript.Run(ctx, s.c, s.ownerKeys(owner)).Err(); err != nil {
		return storage.Usage{}, err
	}
	return s.Usage(ctx, owner)
}

// Keys returns the keys of owner in the layout, in the scripts' order.
func (s *Store) Keys(owner string) []string { return s.ownerKeys(owner) }

// SchemaKey is the meta record of the layout's version.
const SchemaKey = schemaKey

// ReindexAudit counts and indexes owner's audit log from its events, as
// the layout migration does, and returns its bytes.
func (s *Store) ReindexAudit(ctx context.Context, owner string) (int64, error) {
	return reindexAudit.Run(ctx, s.c, s.ownerKeys(owner)).Int64()
}

// AddHook adds a hook to the store's client (to count its commands).
func (s *Store) AddHook(h redis.Hook) { s.c.AddHook(h) }

// Client is the store's client, for a test to look at the keys.
func (s *Store) Client() redis.UniversalClient { return s.c }
