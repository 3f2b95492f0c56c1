package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/flock"
	"github.com/nosana-ci/nosana-secrets/internal/logbuf"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// storeConfig is where the data lives, how it is sealed and how to log.
type storeConfig struct {
	URI        string
	MasterKeys [][]byte // newest first; empty: a key file beside an sqlite database
	LogLevel   slog.Level
	LogJSON    bool
}

func loadStoreConfig(v *viper.Viper) (storeConfig, error) {
	cfg := storeConfig{URI: strings.TrimSpace(v.GetString("storage-connection"))}
	if cfg.URI == "" {
		return cfg, cmdutil.Usagef("STORAGE_CONNECTION is empty; set a storage URI such as sqlite://db.sqlite")
	}
	text, err := secretSetting(v, "master-key", "MASTER_KEY")
	if err != nil {
		return cfg, err
	}
	if len(text) > 0 {
		if cfg.MasterKeys, err = seal.ParseKeys(string(text)); err != nil {
			return cfg, cmdutil.Usagef("MASTER_KEY: %v", err)
		}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		return cfg, cmdutil.Usagef("LOG_LEVEL %q must be debug, info, warn or error", v.GetString("log-level"))
	}
	switch v.GetString("log-format") {
	case "json":
		cfg.LogJSON = true
	case "text":
	case "auto":
		cfg.LogJSON = !term.IsTerminal(int(os.Stderr.Fd()))
	default:
		return cfg, cmdutil.Usagef("LOG_FORMAT %q must be auto, json or text", v.GetString("log-format"))
	}
	return cfg, nil
}

// logger writes to w in batches (see logbuf); call the returned func to
// flush before the process says anything else or exits.
func (c storeConfig) logger(w io.Writer) (*slog.Logger, func()) {
	buf := logbuf.New(w, 100*time.Millisecond)
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(buf, opts)
	if c.LogJSON {
		h = slog.NewJSONHandler(buf, opts)
	}
	return slog.New(h), func() { _ = buf.Close() }
}

func (c storeConfig) redacted() string { return backends.Redact(c.URI) }

// sqliteCacheBytes bounds the read cache of an sqlite store.
const sqliteCacheBytes = 16 << 20

// lockedStore is an sqlite store this process holds the file lock of.
type lockedStore struct {
	storage.Store
	lock *flock.Lock
}

func (l lockedStore) Close() error {
	err := l.Store.Close()
	l.lock.Unlock()
	return err
}

// openStore opens the store, loads the keyring and checks that it opens
// what the store holds. An sqlite file is locked for this process alone,
// which lets reads be cached; a second process on it is refused.
func openStore(ctx context.Context, cfg storeConfig, log *slog.Logger) (storage.Store, *seal.Keyring, error) {
	var lock *flock.Lock
	dbPath := sqlitePath(cfg.URI)
	if dbPath != "" {
		var err error
		lock, err = flock.TryLock(dbPath + ".lock")
		switch {
		case errors.Is(err, flock.ErrLocked):
			return nil, nil, fmt.Errorf("another nosana-secrets process is using %s: sqlite serves one process; "+
				"stop it first, or use PostgreSQL, MySQL, MongoDB or Redis for several servers", dbPath)
		case errors.Is(err, errors.ErrUnsupported), errors.Is(err, fs.ErrNotExist):
			lock = nil // no lock on this platform, or no directory: Open says which
		case err != nil:
			return nil, nil, fmt.Errorf("lock %s: %w", dbPath, err)
		}
	}
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := backends.Open(octx, cfg.URI)
	if err != nil {
		if lock != nil {
			lock.Unlock()
		}
		return nil, nil, err
	}
	if lock != nil {
		store = lockedStore{Store: storage.NewCache(store, sqliteCacheBytes), lock: lock}
	}
	kr, err := keyring(cfg, dbPath, log)
	if err == nil {
		var old bool
		if old, err = seal.CheckStore(octx, store, kr); old {
			log.Warn("some data is sealed with an older master key; run `nosana-secrets rekey` to reseal it with the newest")
		}
	}
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, kr, nil
}

// sqlitePath is the database file of an sqlite URI, "" for other stores.
func sqlitePath(uri string) string {
	if sc, err := sqlstore.ParseURI(uri); err == nil && sc.Dialect == sqlstore.SQLite {
		return sc.DSN
	}
	return ""
}

// keyring builds the keyring from MASTER_KEY(_FILE), or for an sqlite
// database at dbPath from a key file beside it, created (mode 0600) on
// first start.
func keyring(cfg storeConfig, dbPath string, log *slog.Logger) (*seal.Keyring, error) {
	if len(cfg.MasterKeys) > 0 {
		return seal.New(cfg.MasterKeys...)
	}
	if dbPath == "" {
		scheme, _, _ := strings.Cut(cfg.URI, ":")
		return nil, fmt.Errorf("MASTER_KEY is required with %s storage: make one with `head -c 32 /dev/urandom | base64`, "+
			"set MASTER_KEY (or MASTER_KEY_FILE) to it and keep a copy safe: without it no secret can be read", scheme)
	}
	path := dbPath + ".key"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return nil, fmt.Errorf("create master key file: %w", cerr)
		}
		key := seal.NewKey()
		if _, cerr = f.WriteString(key + "\n"); cerr == nil {
			cerr = f.Sync()
		}
		if err := f.Close(); cerr == nil {
			cerr = err
		}
		if cerr != nil {
			return nil, fmt.Errorf("write master key file %s: %w", path, cerr)
		}
		log.Warn("created a master key file beside the database; back it up, without it no secret can be read", "path", path)
		b, err = []byte(key), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the master key file is readable by other users; chmod 600 it", "path", path)
	}
	keys, err := seal.ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return seal.New(keys...)
}
