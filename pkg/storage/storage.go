// Package storage defines the Store that every backend implements and opens
// one from a STORAGE_CONNECTION URI.
//
// A Store keeps opaque byte values under (owner, name). It never interprets
// or logs a value: the server seals values before they reach it.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a secret or meta record does not exist.
var ErrNotFound = errors.New("storage: not found")

// MaxNameLen is the longest secret name, in bytes, that every backend stores.
const MaxNameLen = 512

// Secret is one stored value with its bookkeeping.
type Secret struct {
	Name      string
	Value     []byte
	Version   int64 // 1 on first write, +1 on each overwrite
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Item is one name/value pair of a batch write.
type Item struct {
	Name  string
	Value []byte
}

// Store is the persistence contract. Every method is safe for concurrent use.
// Names are compared byte for byte: case-sensitive, no wildcards, no trimming.
type Store interface {
	// Get returns the owner's secret name, or ErrNotFound.
	Get(ctx context.Context, owner, name string) (Secret, error)
	// GetMany returns those of names that exist, sorted by name.
	GetMany(ctx context.Context, owner string, names []string) ([]Secret, error)
	// List returns the owner's secrets whose names start with prefix, sorted
	// by name. Its cost grows with the result, not with the namespace.
	List(ctx context.Context, owner, prefix string) ([]Secret, error)
	// Put upserts all items atomically: either every item is written or none.
	// An owner or name that CheckName refuses fails the whole batch with an
	// error wrapping ErrInvalid before anything is written. A name given
	// twice is written once, with its last value. (MongoDB without a
	// transaction can leave the first items of a batch written if the
	// server fails half-way; see mongostore.)
	Put(ctx context.Context, owner string, items []Item) error
	// Delete removes the names that exist; absent names are not an error.
	Delete(ctx context.Context, owner string, names []string) error

	// Walk calls fn for every secret of every owner, in no particular order.
	// Used by maintenance commands (rekey); not on a request path.
	Walk(ctx context.Context, fn func(owner string, s Secret) error) error
	// Swap replaces the value of (owner, name) with new only if it still
	// equals old, without touching its version. It reports whether it did.
	Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error)

	// UseNonce records nonce until expires and reports whether it was new.
	// A nonce already recorded reports false until it expires; after that
	// the backend may forget it at any time (purge, TTL), so expires must
	// outlast the time in which the nonce would be accepted.
	UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error)
	// Incr adds n to the counter key, creating it to live until expires, and
	// returns the new total. An expired counter starts again from n, with
	// the new expiry.
	Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error)

	// GetMeta returns a meta record (schema version, key check), or ErrNotFound.
	GetMeta(ctx context.Context, key string) ([]byte, error)
	// InitMeta stores value under key unless a value is there already, and
	// returns the value that is stored after the call.
	InitMeta(ctx context.Context, key string, value []byte) ([]byte, error)

	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the connection pool.
	Close() error
}
