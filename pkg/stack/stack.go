// Package stack opens a whole storage stack from a STORAGE_CONNECTION URI:
//
//	driver (package backends) → storage.Checked → storage.Bounded
//	  → [sqlite: file lock + storage.Cache] → seal.Store
//
// Everything above the seal layer is plaintext.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/flock"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// OpenTimeout bounds the whole of Open by default: connecting, pinging,
// migrating and the key check.
const OpenTimeout = backends.OpenTimeout

// DefaultCacheBytes bounds the read cache of an sqlite store.
const DefaultCacheBytes = 16 << 20

// Options configure Open.
type Options struct {
	// MasterKeys seal the values, newest first. Without any, an sqlite
	// store uses a key file beside its database (created on first start),
	// a memory store a random key, and any other store refuses to open.
	MasterKeys [][]byte
	// Logger receives warnings (a key file created, data sealed with an
	// older key) and what the backend decided at open; nil discards them.
	Logger *slog.Logger
	// Timeout bounds Open; 0 means OpenTimeout.
	Timeout time.Duration
	// CacheBytes bounds the sqlite read cache; 0 means DefaultCacheBytes.
	CacheBytes int
	// CallTimeout bounds each later store call (see storage.Bounded); 0
	// means storage.DefaultCallTimeout.
	CallTimeout time.Duration
	// RedisWaitReplicas > 0 makes a Redis store follow each write with
	// WAIT (see redisstore.Options); other stores ignore it.
	RedisWaitReplicas int
	// Quota bounds what each owner keeps (storage.Quota; zero: no limit).
	Quota storage.Quota
	// MustExist makes Open refuse, with a *NoStoreError, to make a new
	// store: an sqlite file that does not exist yet (and its key file), or
	// the first key check of an empty store. The maintenance commands set
	// it, so one run in the wrong directory or against the wrong database
	// never makes a store of its own; serve's first start does not. An
	// existing sqlite file whose key file is missing is refused either way
	// (a new key could never open what it holds).
	MustExist bool
}

// NoStoreError is Open refusing to make a store it was not allowed to
// create, or to make a key for a database that has data.
type NoStoreError struct {
	URI    string // redacted
	Reason string
}

func (e *NoStoreError) Error() string { return e.URI + ": " + e.Reason }

// Open returns the whole stack over uri: the backend of its driver, then
// storage.Checked, then storage.Bounded (each call's deadline), then for
// sqlite an exclusive file lock and a read cache, then the seal layer,
// whose key check it runs. An unreachable store is an error, so a server
// fails at start rather than on its first request.
func Open(ctx context.Context, uri string, o Options) (*seal.Store, error) {
	uri = strings.TrimSpace(uri)
	u, err := backends.Parse(uri)
	if err != nil {
		return nil, backends.Describe(uri, err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = OpenTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	engine := u.Config.Engine()
	keys := o.MasterKeys
	var dbPath string
	if c, ok := u.Config.(sqlstore.Config); ok && c.Dialect == sqlstore.SQLite {
		dbPath = c.DSN
	}
	if len(keys) == 0 && engine == backends.Memory {
		keys, _ = seal.ParseKeys(seal.NewKey()) // nothing outlives the process
	}
	if dbPath != "" {
		_, serr := os.Stat(dbPath)
		dbExisted := serr == nil
		keyFile := dbPath + ".key"
		_, kerr := os.Stat(keyFile)
		switch {
		case !dbExisted && o.MustExist:
			return nil, &NoStoreError{URI: u.Redacted, Reason: fmt.Sprintf("no store here: %s does not exist. "+
				"Run this where the store is (or set STORAGE_CONNECTION to it); only `serve` creates a store", absPath(dbPath))}
		case len(keys) == 0 && dbExisted && errors.Is(kerr, fs.ErrNotExist):
			return nil, &NoStoreError{URI: u.Redacted, Reason: fmt.Sprintf("the master key file %s is missing beside %s, "+
				"and a new key could not open what it holds: restore the key file from your backup, or set MASTER_KEY (or MASTER_KEY_FILE) to its key",
				absPath(keyFile), absPath(dbPath))}
		}
	}
	var lock *flock.Lock
	if dbPath != "" {
		lock, err = flock.TryLock(dbPath + ".lock")
		switch {
		case errors.Is(err, flock.ErrLocked):
			return nil, fmt.Errorf("another nosana-secrets process is using %s: sqlite serves one process; "+
				"stop it first, or use PostgreSQL, MySQL, MongoDB or Redis for several servers", dbPath)
		case errors.Is(err, errors.ErrUnsupported), errors.Is(err, fs.ErrNotExist):
			lock = nil // no lock on this platform, or no directory: the backend says which
		case err != nil:
			return nil, fmt.Errorf("lock %s: %w", dbPath, err)
		}
	}
	checked, err := u.Open(ctx, storage.OpenOptions{Logger: o.Logger, RedisWaitReplicas: o.RedisWaitReplicas})
	if err != nil {
		if lock != nil {
			lock.Unlock()
		}
		return nil, u.Describe(backends.InTime(ctx, timeout, err))
	}
	bounded := storage.Bound(checked, o.CallTimeout)
	bounded.Unavailable = u.Driver.Unavailable
	var s storage.Backend = bounded
	if lock != nil {
		// This process is the file's only writer, so reads can be cached.
		size := o.CacheBytes
		if size <= 0 {
			size = DefaultCacheBytes
		}
		s = locked{Backend: storage.NewCache(s, size), lock: lock}
	}
	switch {
	case len(keys) > 0:
	case dbPath != "":
		if keys, err = seal.KeyFile(dbPath+".key", o.Logger); err != nil {
			s.Close()
			return nil, err
		}
	default:
		// Checked after connecting, so a store that is down says so first.
		s.Close()
		scheme, _, _ := strings.Cut(uri, ":")
		return nil, fmt.Errorf("MASTER_KEY is required with %s storage: make one with `head -c 32 /dev/urandom | base64`, "+
			"set MASTER_KEY (or MASTER_KEY_FILE) to it and keep a copy safe: without it no secret can be read", scheme)
	}
	kr, err := seal.New(keys...)
	if err != nil {
		s.Close()
		return nil, err
	}
	newStore := seal.NewStore
	if o.MustExist && engine != backends.Memory {
		newStore = seal.OpenExisting
	}
	sealed, err := newStore(ctx, s, kr)
	if errors.Is(err, seal.ErrNoKeyCheck) {
		s.Close()
		return nil, &NoStoreError{URI: u.Redacted, Reason: "no nosana-secrets store here yet (no data, no key check); only `serve` creates a store"}
	}
	if err != nil {
		s.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, u.Describe(backends.InTime(ctx, timeout, err))
		}
		return nil, err
	}
	sealed.SetQuota(o.Quota)
	if sealed.SealedWithOlderKey() {
		o.Logger.Warn("some data is sealed with an older master key; run `nosana-secrets rekey` to reseal it with the newest")
	}
	return sealed, nil
}

// locked is an sqlite store this process holds the file lock of.
type locked struct {
	storage.Backend
	lock *flock.Lock
}

func (l locked) Close() error {
	err := l.Backend.Close()
	l.lock.Unlock()
	return err
}

// absPath is path made absolute for a message (as it is when that fails).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
