// Package backends opens a storage stack from a STORAGE_CONNECTION URI:
//
//	sqlite://relative/path.sqlite, sqlite:///absolute/path.sqlite
//	postgres://user:pass@host:5432/db?sslmode=require (also postgresql://)
//	postgres://user:pass@h1:5432,h2:5432/db?target_session_attrs=read-write
//	mysql://user:pass@host:3306/db
//	mongodb://user:pass@host:27017/db, mongodb+srv://user:pass@cluster/db
//	  (DocumentDB: mongodb://…?tls=true&tlsCAFile=…&retryWrites=false)
//	redis://user:pass@host:6379/0, rediss://… (TLS)
//	redis+cluster://user:pass@host1:6379,host2:6379 (Redis Cluster)
//	redis+sentinel://user:pass@host1:26379,host2:26379/MASTER_NAME[/db]
//	  (TLS: rediss+cluster://, rediss+sentinel://)
//	memory:// (in this process only; nothing persists)
//
// Special characters in a user name or password must be percent-encoded
// (@ as %40, / as %2F, ? as %3F, # as %23, % as %25). For SQLite, the
// directory must exist; the file is created on first start.
//
// Errors are one line that names the scheme and host and never the
// password: see Redact.
package backends

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/flock"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// Schemes are the URI schemes Open accepts.
var Schemes = []string{"sqlite", "postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss",
	"redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel", "memory"}

// Kinds of backend, as Check reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
	MongoDB  = "mongodb"
	Redis    = "redis"
	Memory   = "memory"
)

// OpenTimeout bounds the whole of Open by default: connecting, pinging,
// migrating and the key check.
const OpenTimeout = 30 * time.Second

// DefaultCacheBytes bounds the read cache of an sqlite store.
const DefaultCacheBytes = 16 << 20

// Options configure Open.
type Options struct {
	// MasterKeys seal the values, newest first. Without any, an sqlite
	// store uses a key file beside its database (created on first start),
	// a memory store a random key, and any other store refuses to open.
	MasterKeys [][]byte
	// Logger receives warnings (a key file created, data sealed with an
	// older key); nil discards them.
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

// Open returns the whole stack over uri: the backend, then storage.Checked,
// then storage.Bounded (each call's deadline), then for sqlite an exclusive
// file lock and a read cache, then the seal layer, whose key check it runs. Everything above it is plaintext. An
// unreachable store is an error, so a server fails at start rather than
// on its first request.
func Open(ctx context.Context, uri string, o Options) (*seal.Store, error) {
	uri = strings.TrimSpace(uri)
	kind, err := Check(uri)
	if err != nil {
		return nil, describe(uri, err)
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

	keys := o.MasterKeys
	dbPath := sqlitePath(uri)
	if len(keys) == 0 && kind == Memory {
		keys, _ = seal.ParseKeys(seal.NewKey()) // nothing outlives the process
	}

	dbExisted := false
	if dbPath != "" {
		_, serr := os.Stat(dbPath)
		dbExisted = serr == nil
		keyFile := dbPath + ".key"
		_, kerr := os.Stat(keyFile)
		switch {
		case !dbExisted && o.MustExist:
			return nil, &NoStoreError{URI: Redact(uri), Reason: fmt.Sprintf("no store here: %s does not exist. "+
				"Run this where the store is (or set STORAGE_CONNECTION to it); only `serve` creates a store", absPath(dbPath))}
		case len(keys) == 0 && dbExisted && errors.Is(kerr, fs.ErrNotExist):
			return nil, &NoStoreError{URI: Redact(uri), Reason: fmt.Sprintf("the master key file %s is missing beside %s, "+
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
	unlock := func() {
		if lock != nil {
			lock.Unlock()
		}
	}

	var s storage.Store
	s, err = openBackend(ctx, kind, uri, timeout, o)
	if err != nil {
		unlock()
		return nil, err
	}
	if c, ok := s.(*storage.Checked); ok { // as openBackend returns it
		if m, ok := c.Backend.(*mongostore.Store); ok {
			if m.Transactions() {
				o.Logger.Info("mongodb: each write of several keys, with its audit event, is one transaction")
			} else {
				o.Logger.Info("mongodb: this server has no transactions (standalone, or FerretDB): a write of several keys that fails half-way can leave its first keys written")
			}
		}
	}
	bounded := storage.Bound(s, o.CallTimeout)
	if kind == SQLite || kind == Postgres || kind == MySQL {
		bounded.Unavailable = sqlstore.Unavailable
	}
	s = bounded
	if lock != nil {
		// This process is the file's only writer, so reads can be cached.
		size := o.CacheBytes
		if size <= 0 {
			size = DefaultCacheBytes
		}
		s = locked{Store: storage.NewCache(s, size), lock: lock}
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
	if o.MustExist && kind != Memory {
		newStore = seal.OpenExisting
	}
	sealed, err := newStore(ctx, s, kr)
	if errors.Is(err, seal.ErrNoKeyCheck) {
		s.Close()
		return nil, &NoStoreError{URI: Redact(uri), Reason: "no nosana-secrets store here yet (no data, no key check); only `serve` creates a store"}
	}
	if err != nil {
		s.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %v", timeout, err)
			return nil, describe(uri, err)
		}
		return nil, err
	}
	sealed.SetQuota(o.Quota)
	if sealed.SealedWithOlderKey() {
		o.Logger.Warn("some data is sealed with an older master key; run `nosana-secrets rekey` to reseal it with the newest")
	}
	return sealed, nil
}

// OpenBackend opens the backend of uri under a storage.Checked layer, with
// neither lock, cache nor seal layer: values are stored as given. For
// tests and tools that handle sealed values themselves.
func OpenBackend(ctx context.Context, uri string) (storage.Store, error) {
	uri = strings.TrimSpace(uri)
	kind, err := Check(uri)
	if err != nil {
		return nil, describe(uri, err)
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	return openBackend(ctx, kind, uri, OpenTimeout, Options{})
}

func openBackend(ctx context.Context, kind, uri string, timeout time.Duration, o Options) (storage.Store, error) {
	var s storage.Store
	var err error
	switch kind {
	case SQLite, Postgres, MySQL:
		s, err = openSQL(ctx, uri)
	case MongoDB:
		s, err = openMongo(ctx, uri)
	case Redis:
		s, err = openRedis(ctx, uri, redisstore.Options{WaitReplicas: o.RedisWaitReplicas})
	case Memory:
		s = memstore.New()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %v", timeout, err)
		}
		return nil, describe(uri, err)
	}
	return storage.Check(s), nil
}

// locked is an sqlite store this process holds the file lock of.
type locked struct {
	storage.Store
	lock *flock.Lock
}

func (l locked) Close() error {
	err := l.Store.Close()
	l.lock.Unlock()
	return err
}

// sqlitePath is the database file of an sqlite URI, "" for other stores.
func sqlitePath(uri string) string {
	if sc, err := sqlstore.ParseURI(uri); err == nil && sc.Dialect == sqlstore.SQLite {
		return sc.DSN
	}
	return ""
}

// The constructors return concrete types; a nil *T must not become a
// non-nil interface.
func openSQL(ctx context.Context, uri string) (storage.Store, error) {
	s, err := sqlstore.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openMongo(ctx context.Context, uri string) (storage.Store, error) {
	s, err := mongostore.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openRedis(ctx context.Context, uri string, o redisstore.Options) (storage.Store, error) {
	s, err := redisstore.OpenWith(ctx, uri, o)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Check parses uri without touching the network or the file system and
// returns its kind (SQLite, Postgres, MySQL, MongoDB or Redis). Its error
// never contains the password.
func Check(uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return "", fmt.Errorf("not a URI: want scheme://… with a scheme of %s", strings.Join(Schemes, ", "))
	}
	var kind string
	switch strings.ToLower(scheme) {
	case "sqlite":
		kind = SQLite
	case "postgres", "postgresql":
		kind = Postgres
	case "mysql":
		kind = MySQL
	case "mongodb", "mongodb+srv":
		kind = MongoDB
	case "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		kind = Redis
	case "memory":
		if rest != "" {
			return "", errors.New("memory:// takes no host or path")
		}
		return Memory, nil
	default:
		return "", fmt.Errorf("unsupported scheme %q: use one of %s", scheme, strings.Join(Schemes, ", "))
	}
	if kind != SQLite {
		// With an unencoded / ? or # in the password, a URI parser would
		// split it into host and path and show part of it in an error.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 && strings.ContainsAny(rest[:at], "/?#") {
			return "", errors.New("the URI has '@' after its host, or '/', '?' or '#' in its user name or password: percent-encode them (%40, %2F, %3F, %23)")
		}
		// (A Redis host list is no URI host: redisstore.Parse checks those.)
		if _, err := url.Parse(uri); err != nil && !(kind == Redis && strings.Contains(scheme, "+")) {
			if kind == Postgres {
				_, err = sqlstore.ParseURI(uri) // names what pgx cannot take
				return "", err
			}
			return "", errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")
		}
	}
	var err error
	switch kind {
	case SQLite, Postgres, MySQL:
		_, err = sqlstore.ParseURI(uri)
	case MongoDB:
		_, err = mongostore.ParseURI(uri)
	case Redis:
		_, err = redisstore.Parse(uri)
	}
	return kind, err
}

func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// describe makes the one-line error of Open: the redacted URI, then the
// problem with every secret of the URI scrubbed from it.
func describe(uri string, err error) error {
	msg := err.Error()
	for _, s := range secrets(uri) {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	msg = strings.Join(strings.Fields(msg), " ") // one line
	if _, _, ok := strings.Cut(uri, "://"); !ok {
		return fmt.Errorf("storage: %s", msg)
	}
	return fmt.Errorf("storage %s: %s", Redact(uri), msg)
}

// absPath is path made absolute for a message (as it is when that fails).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
