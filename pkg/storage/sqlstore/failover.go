package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// multiHostConnectTimeout is connect_timeout for each host of a multi-host
// PostgreSQL URI that sets none, so a host that is down without refusing
// (a dead machine) leaves time to try the next within one STORE_TIMEOUT.
const multiHostConnectTimeout = 2 * time.Second

// readOnlyMark, in a connection's CustomData, says a statement on it failed
// because the server is read-only (a standby): the pool drops it.
const readOnlyMark = "nosana.readonly"

// pgOptions are the pool's hooks for PostgreSQL. With several hosts and no
// target_session_attrs, a connection is kept only on a server that takes
// writes (libpq's default, "any", could settle on a standby); without
// connect_timeout, each host gets multiHostConnectTimeout. A connection on
// which a statement failed as read-only (SQLSTATE 25006: a standby behind
// a DNS name or proxy that moved, or target_session_attrs=any) is dropped
// instead of reused, so the next one is dialled afresh.
func pgOptions(dsn string) []stdlib.OptionOpenDB {
	q := url.Values{}
	if u, err := url.Parse(dsn); err == nil {
		q = u.Query()
	}
	setsAttrs := q.Has("target_session_attrs") || os.Getenv("PGTARGETSESSIONATTRS") != ""
	setsTimeout := q.Has("connect_timeout") || os.Getenv("PGCONNECT_TIMEOUT") != ""
	return []stdlib.OptionOpenDB{
		stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
			if hosts(c) > 1 {
				if !setsAttrs {
					c.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
				}
				if !setsTimeout && c.ConnectTimeout == 0 {
					c.ConnectTimeout = multiHostConnectTimeout
				}
			}
			c.Tracer = readOnlyTracer{}
			return nil
		}),
		stdlib.OptionResetSession(func(_ context.Context, c *pgx.Conn) error {
			if c.PgConn().CustomData()[readOnlyMark] != nil {
				return driver.ErrBadConn
			}
			return nil
		}),
	}
}

// hosts counts the distinct host:port pairs pgx will try (each may appear
// twice, with and without TLS).
func hosts(c *pgx.ConnConfig) int {
	seen := map[string]bool{net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))): true}
	for _, f := range c.Fallbacks {
		seen[net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port)))] = true
	}
	return len(seen)
}

// readOnlyTracer marks a connection on which a statement failed as
// read-only.
type readOnlyTracer struct{}

func (readOnlyTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (readOnlyTracer) TraceQueryEnd(_ context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	var pg *pgconn.PgError
	if errors.As(d.Err, &pg) && pg.Code == "25006" { // read_only_sql_transaction
		c.PgConn().CustomData()[readOnlyMark] = true
	}
}

// Unavailable reports whether err says the database is out of reach or
// cannot take writes just now (down, restarting, failing over, a standby)
// rather than that the request was wrong: the storage layers answer it 503
// (see storage.Bounded).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "25006", // read_only_sql_transaction: a standby
			"57P01", // admin_shutdown
			"57P02", // crash_shutdown
			"57P03": // cannot_connect_now: starting up, shutting down, in recovery
			return true
		}
		return strings.HasPrefix(pg.Code, "08") // connection_exception
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only
			1836, // ER_READ_ONLY_MODE
			1053: // ER_SERVER_SHUTDOWN
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
