// Package backends is the driver table: it parses a STORAGE_CONNECTION URI
// once, with the driver of its scheme, into that backend's typed config:
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
// password: see Redact. Package stack builds the layers over a backend.
package backends

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// drivers is the table: one driver a backend package.
var drivers = []*storage.Driver{&sqlstore.Driver, &mongostore.Driver, &redisstore.Driver, &memstore.Driver}

// Schemes are the URI schemes Parse accepts.
var Schemes = func() []string {
	var out []string
	for _, d := range drivers {
		out = append(out, d.Schemes...)
	}
	return out
}()

// Engines, as Check and Config.Engine name them.
const (
	SQLite   = sqlstore.SQLite
	Postgres = sqlstore.Postgres
	MySQL    = sqlstore.MySQL
	MongoDB  = "mongodb"
	Redis    = "redis"
	Memory   = "memory"
)

// OpenTimeout bounds opening a backend by default: connecting, pinging,
// migrating.
const OpenTimeout = 30 * time.Second

// URI is a STORAGE_CONNECTION parsed once: its driver, the driver's typed
// config, and the URI as logs and errors show it.
type URI struct {
	Config   storage.Config
	Driver   *storage.Driver
	Redacted string
	secrets  []string // what Describe scrubs from an error
}

// Parse checks uri without touching the network or the file system and
// returns it parsed by its driver. Its error never contains the password.
func Parse(uri string) (*URI, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return nil, fmt.Errorf("not a URI: want scheme://… with a scheme of %s", strings.Join(Schemes, ", "))
	}
	scheme = strings.ToLower(scheme)
	i := slices.IndexFunc(drivers, func(d *storage.Driver) bool { return slices.Contains(d.Schemes, scheme) })
	if i < 0 {
		return nil, fmt.Errorf("unsupported scheme %q: use one of %s", scheme, strings.Join(Schemes, ", "))
	}
	d := drivers[i]
	if scheme != "sqlite" && scheme != "memory" {
		// With an unencoded / ? or # in the password, a URI parser would
		// split it into host and path and show part of it in an error.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 && strings.ContainsAny(rest[:at], "/?#") {
			return nil, errors.New("the URI has '@' after its host, or '/', '?' or '#' in its user name or password: percent-encode them (%40, %2F, %3F, %23)")
		}
		// A Redis host list is no URI host (redisstore.Parse checks those);
		// sqlstore names what pgx cannot take in a PostgreSQL host list.
		hostList := d == &redisstore.Driver && strings.Contains(scheme, "+") || scheme == "postgres" || scheme == "postgresql"
		if _, err := url.Parse(uri); err != nil && !hostList {
			return nil, errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")
		}
	}
	cfg, err := d.Parse(uri)
	if err != nil {
		return nil, err
	}
	return &URI{Config: cfg, Driver: d, Redacted: Redact(uri), secrets: secrets(uri)}, nil
}

// Check parses uri (see Parse) and returns its engine (SQLite, Postgres,
// MySQL, MongoDB, Redis or Memory).
func Check(uri string) (string, error) {
	u, err := Parse(uri)
	if err != nil {
		return "", err
	}
	return u.Config.Engine(), nil
}

// Open opens u's backend under a storage.Checked layer; its error is
// not yet described (see Describe).
func (u *URI) Open(ctx context.Context, o storage.OpenOptions) (*storage.Checked, error) {
	b, err := u.Config.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	return storage.Check(b), nil
}

// Describe makes err the one-line error of opening u: the redacted URI,
// then the problem with every secret of the URI scrubbed from it.
func (u *URI) Describe(err error) error {
	return fmt.Errorf("storage %s: %s", u.Redacted, scrub(err, u.secrets))
}

// OpenBackend opens the backend of uri under a storage.Checked layer, with
// neither lock, cache nor seal layer: values are stored as given. For
// tests and tools that handle sealed values themselves.
func OpenBackend(ctx context.Context, uri string) (storage.Backend, error) {
	uri = strings.TrimSpace(uri)
	u, err := Parse(uri)
	if err != nil {
		return nil, describe(uri, err)
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	b, err := u.Open(ctx, storage.OpenOptions{Logger: discard})
	if err != nil {
		return nil, u.Describe(InTime(ctx, OpenTimeout, err))
	}
	return b, nil
}

// InTime is err, said as no answer within timeout when ctx's deadline cut
// it short.
func InTime(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("no answer within %s: %v", timeout, err)
	}
	return err
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

// describe makes the one-line error of opening uri: the redacted URI, then
// the problem with every secret of the URI scrubbed from it.
func describe(uri string, err error) error {
	if _, _, ok := strings.Cut(uri, "://"); !ok {
		return fmt.Errorf("storage: %s", scrub(err, secrets(uri)))
	}
	return fmt.Errorf("storage %s: %s", Redact(uri), scrub(err, secrets(uri)))
}

// scrub is err's message on one line, each of secrets replaced.
func scrub(err error, secrets []string) string {
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return strings.Join(strings.Fields(msg), " ")
}
