package memstore

import (
	"context"
	"errors"
	"strings"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Driver opens memory://, a store in this process only.
var Driver = storage.Driver{
	Schemes: []string{"memory"},
	Parse: func(uri string) (storage.Config, error) {
		if _, rest, _ := strings.Cut(uri, "://"); rest != "" {
			return nil, errors.New("memory:// takes no host or path")
		}
		return Config{}, nil
	},
}

// Config is memory://, which has no settings.
type Config struct{}

// Engine implements storage.Config.
func (Config) Engine() string { return "memory" }

// Open implements storage.Config: a new, empty store.
func (Config) Open(context.Context, storage.OpenOptions) (storage.Backend, error) { return New(), nil }
