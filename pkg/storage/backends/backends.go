// Package backends opens a storage.Store from a STORAGE_CONNECTION URI:
//
//	sqlite://relative/path.sqlite, sqlite:///absolute/path.sqlite
//	postgres://user:pass@host:5432/db?sslmode=require (also postgresql://)
//	mysql://user:pass@host:3306/db
//	mongodb://user:pass@host:27017/db, mongodb+srv://user:pass@cluster/db
//	  (DocumentDB: mongodb://…?tls=true&tlsCAFile=…&retryWrites=false)
//	redis://user:pass@host:6379/0, rediss://… (TLS)
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
	"net/url"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// Schemes are the URI schemes Open accepts.
var Schemes = []string{"sqlite", "postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss"}

// Kinds of backend, as Check reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
	MongoDB  = "mongodb"
	Redis    = "redis"
)

// OpenTimeout bounds connecting, pinging and migrating in Open.
const OpenTimeout = 30 * time.Second

// Open checks uri, connects, pings the store and creates or migrates its
// schema, within OpenTimeout. An unreachable store is an error, so a
// server fails at start rather than on its first request.
func Open(ctx context.Context, uri string) (storage.Store, error) {
	uri = strings.TrimSpace(uri)
	kind, err := Check(uri)
	if err != nil {
		return nil, describe(uri, err)
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	var s storage.Store
	switch kind {
	case SQLite, Postgres, MySQL:
		s, err = openSQL(ctx, uri)
	case MongoDB:
		s, err = openMongo(ctx, uri)
	case Redis:
		s, err = openRedis(ctx, uri)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %v", OpenTimeout, err)
		}
		return nil, describe(uri, err)
	}
	return s, nil
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

func openRedis(ctx context.Context, uri string) (storage.Store, error) {
	s, err := redisstore.Open(ctx, uri)
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
	case "redis", "rediss":
		kind = Redis
	default:
		return "", fmt.Errorf("unsupported scheme %q: use one of %s", scheme, strings.Join(Schemes, ", "))
	}
	if kind != SQLite {
		// With an unencoded / ? or # in the password, a URI parser would
		// split it into host and path and show part of it in an error.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 && strings.ContainsAny(rest[:at], "/?#") {
			return "", errors.New("the URI has '@' after its host, or '/', '?' or '#' in its user name or password: percent-encode them (%40, %2F, %3F, %23)")
		}
		if _, err := url.Parse(uri); err != nil {
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
		_, _, err = redisstore.ParseURI(uri)
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
