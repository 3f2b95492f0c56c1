package storage

import (
	"context"
	"log/slog"
)

// Driver is what a backend package exports for the driver table (package
// backends): the URI schemes it opens, their parser and, where the engine
// has them, the errors that say it is out of reach.
type Driver struct {
	// Schemes are the URI schemes it opens, lower case.
	Schemes []string
	// Parse checks a URI of one of Schemes without touching the network
	// or the file system and returns its typed Config. Its error never
	// holds the password.
	Parse func(uri string) (Config, error)
	// Unavailable, when set, picks the errors of the backend that say it is
	// out of reach (Bounded wraps them in ErrUnavailable); nil where the
	// backend wraps them itself.
	Unavailable func(error) bool
}

// Config is a connection URI, parsed once by its Driver.
type Config interface {
	// Engine names the engine: sqlite, postgres, mysql, mongodb, redis or
	// memory.
	Engine() string
	// Open connects, creates or migrates the schema and returns the
	// backend, deciding there what the deployment can do (MongoDB:
	// whether it has transactions).
	Open(ctx context.Context, o OpenOptions) (Backend, error)
}

// OpenOptions tune Config.Open beyond the URI.
type OpenOptions struct {
	// Logger receives what the backend decided at open; never nil.
	Logger *slog.Logger
	// RedisWaitReplicas > 0 makes a Redis store follow each write with
	// WAIT (see redisstore.Options); other backends ignore it.
	RedisWaitReplicas int
}

// ParseWith makes Driver.Parse of a parser that returns a concrete config:
// a failed parse is a nil Config, not a nil pointer in a non-nil one.
func ParseWith[C Config](parse func(uri string) (C, error)) func(uri string) (Config, error) {
	return func(uri string) (Config, error) {
		c, err := parse(uri)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// Opened is what Config.Open returns for a concrete backend b: nil, not
// a nil pointer in a non-nil Backend, when err is set.
func Opened[B Backend](b B, err error) (Backend, error) {
	if err != nil {
		return nil, err
	}
	return b, nil
}
