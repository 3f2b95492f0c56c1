package sqlstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// Config says which database to open.
type Config struct {
	Dialect string // SQLite, Postgres or MySQL
	// DSN is the driver's own connection string: a file path for SQLite
	// (which must not contain '?'), a pgx URL or key/value string for
	// PostgreSQL, a go-sql-driver DSN for MySQL.
	DSN string
}

// ParseURI turns a STORAGE_CONNECTION URI into a Config:
//
//	sqlite://relative/path.sqlite, sqlite:///absolute/path.sqlite
//	postgres://user:pass@host:5432/db?sslmode=require (also postgresql://)
//	postgres://user:pass@h1:5432,h2:5432/db?target_session_attrs=read-write
//	mysql://user:pass@host:3306/db?tls=true
//
// It checks syntax only and never includes the password in its error.
func ParseURI(uri string) (Config, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return Config{}, errors.New("not a URI: want scheme://…")
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		path, err := sqlitePath(rest)
		return Config{Dialect: SQLite, DSN: path}, err
	case "postgres", "postgresql":
		// pgx parses (and validates) the URL itself when the pool opens.
		u, err := url.Parse(uri)
		if err != nil {
			if hosts, ok := hostList(rest); ok {
				if strings.Contains(hosts, "[") {
					return Config{}, errors.New("postgres URI: a host list cannot hold IPv6 addresses (pgx cannot parse them): use host names")
				}
				if err := checkHosts(hosts); err != nil {
					return Config{}, err
				}
			}
			return Config{}, errMalformed
		}
		if err := checkHosts(u.Host); err != nil {
			return Config{}, err
		}
		return Config{Dialect: Postgres, DSN: uri}, nil
	case "mysql":
		dsn, err := mysqlDSN(uri)
		return Config{Dialect: MySQL, DSN: dsn}, err
	}
	return Config{}, fmt.Errorf("scheme %q is not an SQL scheme (sqlite, postgres, postgresql, mysql)", scheme)
}

// hostList returns the hosts of a URI's authority (what follows "://"),
// and whether there are several.
func hostList(rest string) (string, bool) {
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	return authority, strings.Contains(authority, ",")
}

// checkHosts checks a PostgreSQL host list, h1:5432,h2:5433 (libpq's
// multi-host form; pgx tries them in order): no empty host, and ports that
// are numbers from 1 to 65535. A single host is left to pgx, as before.
func checkHosts(hosts string) error {
	if !strings.Contains(hosts, ",") {
		return nil
	}
	for h := range strings.SplitSeq(hosts, ",") {
		name, port := h, ""
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			name, port = h[:i], h[i+1:]
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("postgres URI: host %q has a bad port: want host1:5432,host2:5432", h)
			}
		}
		if name == "" {
			return errors.New("postgres URI: empty host in the host list: want host1:5432,host2:5432")
		}
	}
	return nil
}

var errMalformed = errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")

// sqlitePath takes what follows "sqlite://": a relative path, or an absolute
// one when it starts with '/'. (url.Parse is no use here: it would take the
// first path element for a host name.)
func sqlitePath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("sqlite URI has no file path: want sqlite://path/to/file.sqlite or sqlite:///absolute/path.sqlite")
	case strings.ContainsAny(p, "?#"):
		return "", errors.New("sqlite file path must not contain '?' or '#' (query options are not supported)")
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		return "", errors.New("sqlite URI must name a plain file path (no :memory:, no file: URIs)")
	case strings.IndexByte(p, 0) >= 0:
		return "", errors.New("sqlite file path contains a NUL byte")
	case strings.HasSuffix(p, "/"):
		return "", errors.New("sqlite URI names a directory, not a file")
	}
	return p, nil
}

// mysqlDSN converts mysql://user:pass@host:3306/db?params into a
// go-sql-driver DSN. Query parameters are the driver's (tls, timeout,
// readTimeout, …); unknown ones are sent as session variables, as the
// driver does. parseTime and UTC are always set.
func mysqlDSN(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", errMalformed
	}
	if u.Hostname() == "" {
		return "", errors.New("mysql URI has no host: want mysql://user:pass@host:3306/db")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", errors.New("mysql URI must name one database: want mysql://user:pass@host:3306/db")
	}
	// Let the driver parse its own parameters; what it rejects is a
	// parameter name or value, never the password.
	cfg, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("mysql URI parameters: %v", err)
	}
	cfg.Net = "tcp"
	cfg.Addr = host
	cfg.DBName = db
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// Plain Exec/Query calls are interpolated client side (one round trip
	// instead of prepare+execute+close); the hot statements are prepared
	// explicitly.
	cfg.InterpolateParams = true
	cfg.ClientFoundRows = false // RowsAffected counts changed rows (UseNonce relies on it)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return cfg.FormatDSN(), nil
}
