package cmd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/logbuf"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
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

// openStore opens the whole storage stack (see backends.Open): plaintext
// above, sealed below, the key checked.
func openStore(ctx context.Context, cfg storeConfig, log *slog.Logger) (*seal.Store, error) {
	return backends.Open(ctx, cfg.URI, backends.Options{MasterKeys: cfg.MasterKeys, Logger: log})
}
