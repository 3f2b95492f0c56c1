// Package storage defines the one contract every backend implements
// (Backend), the Driver a backend package exports, the Checked layer that
// validates input once for every backend, the Bounded layer that gives
// each call a deadline, and the read cache of a single-process store.
//
// A backend keeps opaque byte values under (owner, name). It never
// interprets or logs a value. Package backends holds the driver table;
// package stack builds a stack: the backend, then Checked, then Bounded,
// then (sqlite) the lock and Cache, then the seal layer, above which values
// are plaintext.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a secret or meta record does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrUnavailable is wrapped by the error of a call the store could not
// serve for now (a failover under way, a primary down, a write not
// replicated in time); a server answers it 503. Like a timeout, it says
// nothing about whether a write landed.
var ErrUnavailable = errors.New("storage: unavailable")

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

// ItemNames is the names of items, in their order.
func ItemNames(items []Item) []string {
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Name
	}
	return names
}

// Secrets is what a request reads and writes. Names are compared byte for
// byte: case-sensitive, no wildcards, no trimming.
type Secrets interface {
	// Get returns the owner's secret name, or ErrNotFound.
	Get(ctx context.Context, owner, name string) (Secret, error)
	// GetMany returns those of names that exist, sorted by name; like List,
	// it may leave Version and the times zero.
	GetMany(ctx context.Context, owner string, names []string) ([]Secret, error)
	// List returns the owner's secrets whose names start with prefix, sorted
	// by name: names and values, while Version and the times may be zero (a
	// listing never shows them). Its cost grows with the result, not with
	// the namespace.
	List(ctx context.Context, owner, prefix string) ([]Secret, error)
	// ListPage is one page of List, with Version and the times filled in:
	// at most limit (> 0) of the secrets whose names start with prefix and
	// sort after the name after ("": from the start), sorted. A listing pages by passing the last name it got;
	// pages are not a snapshot: a write between two is seen or not.
	ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error)
	// Put upserts all items atomically: either every item is written or none.
	// An owner or name that CheckName refuses fails the whole batch with an
	// error wrapping ErrInvalid before anything is written. A name given
	// twice is written once, with its last value. (MongoDB without a
	// transaction can leave the first items of a batch written if the
	// server fails half-way; see mongostore.)
	Put(ctx context.Context, owner string, items []Item) error
	// Delete removes the names that exist; absent names are not an error.
	Delete(ctx context.Context, owner string, names []string) error
}

// Ephemeral holds sign-in nonces and rate-limit counters, records that
// expire.
type Ephemeral interface {
	// UseNonce records nonce until expires and reports whether it was new.
	// A nonce already recorded reports false until it expires; after that
	// the backend may forget it at any time (purge, TTL), so expires must
	// outlast the time in which the nonce would be accepted.
	UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error)
	// Incr adds n to the counter key, creating it to live until expires, and
	// returns the new total. An expired counter starts again from n, with
	// the new expiry.
	Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error)
}

// Walker is what maintenance (rekey, backup) needs; not on a request path.
type Walker interface {
	// Walk calls fn for every secret of every owner, in no particular order.
	// fn may write.
	Walk(ctx context.Context, fn func(owner string, s Secret) error) error
	// Snapshot is Walk as one consistent read where the engine has one (SQL:
	// one read transaction), and Walk itself elsewhere (Redis, MongoDB,
	// memory). Backups read through it; fn must not write.
	Snapshot(ctx context.Context, fn func(owner string, s Secret) error) error
	// Swap replaces the value of (owner, name) with new only if it still
	// equals old, without touching its version. It reports whether it did.
	Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error)
}

// Meta holds the store's own records (schema version, key check).
type Meta interface {
	// GetMeta returns a meta record, or ErrNotFound.
	GetMeta(ctx context.Context, key string) ([]byte, error)
	// InitMeta stores value under key unless a value is there already, and
	// returns the value that is stored after the call. Of racing callers on
	// one key, all get the same value.
	InitMeta(ctx context.Context, key string, value []byte) ([]byte, error)
	// PutMeta stores value under key, replacing any value there.
	PutMeta(ctx context.Context, key string, value []byte) error
}

// Backend is the whole contract: what every backend implements and what
// each layer of a stack (Checked, Bounded, the sqlite cache, the seal
// layer) passes on, overriding only the methods it changes. Every method is
// required and safe for concurrent use; what one engine cannot do on a
// deployment is a documented behaviour of that backend, decided at open
// (MongoDB without a replica set writes without a transaction).
//
// A backend may rely on the Checked layer above it: owners, names, nonces,
// counter and meta keys are valid (CheckName), prefixes are ValidPrefix,
// name lists are distinct and sorted, batches are non-empty, deduplicated
// and sorted, and values are non-nil.
type Backend interface {
	Secrets
	ValueLister
	Ephemeral
	Meta
	Walker
	History
	AuditLog
	HistoryAdmin
	Quotas
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the connection pool.
	Close() error
}

// Store and HistoryStore are the names Backend had when history, audit
// logs and quotas were optional.
type (
	Store        = Backend
	HistoryStore = Backend
)
