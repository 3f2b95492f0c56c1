// Package migrate reads what the original Nosana secret manager (keyv 4)
// stored, on any of its five backends, and imports it into this server's
// store. Sources are only ever read.
//
// The layouts (observed, see testdata/original/FORMAT.md of the project):
// a keyv(key, value) table on sqlite and PostgreSQL, keyv(id, value) on
// MySQL; one string key per record plus namespace:<address> sets on Redis;
// documents {key, value, expiresAt} in the keyv collection on MongoDB.
// Each record key is "<address>:<name>" and each value the text
// {"value":<json-buffer JSON>,"expires":null}.
package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// Source is the original's store, read record by record.
type Source interface {
	// Count is how many records Each will see, or an estimate; -1 when the
	// store cannot tell cheaply.
	Count(ctx context.Context) (int64, error)
	// Each calls fn for every record: its key and the text stored, in key
	// order where the store keeps one. It stops at fn's first error. The
	// slices are only valid during the call.
	Each(ctx context.Context, fn func(key string, stored []byte) error) error
	Close() error
}

// Open connects to the original's store at uri, its own STORAGE_CONNECTION
// (sqlite://, postgres://, mysql://, redis://, rediss://, mongodb://,
// mongodb+srv://), for reading. Errors never contain the password.
func Open(ctx context.Context, uri string) (Source, error) {
	uri = strings.TrimSpace(uri)
	kind, err := backends.Check(uri)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	var s Source
	switch kind {
	case backends.SQLite, backends.Postgres, backends.MySQL:
		s, err = openSQL(ctx, kind, uri)
	case backends.Redis:
		s, err = openRedis(ctx, uri)
	case backends.MongoDB:
		s, err = openMongo(ctx, uri)
	default:
		err = fmt.Errorf("the original server had no %s backend", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("original %w", backends.Describe(uri, err))
	}
	return s, nil
}
