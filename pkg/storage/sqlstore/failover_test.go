package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the admin connection

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestPostgresReadOnlyReconnects: a connection on which a write failed as
// read-only (what a standby answers) is dropped rather than reused, so once
// the server takes writes again the next write works; the failures say
// Unavailable (503), not a bad request. A multi-host store opens only on a
// server that takes writes.
func TestPostgresReadOnlyReconnects(t *testing.T) {
	base := storagetest.URI(t, "postgres")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// A database of its own: ALTER DATABASE changes every new session in it.
	name := storagetest.Unique("nosana_ro_")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	defer admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
	u, _ := url.Parse(base)
	u.Path = "/" + name
	s, err := sqlstore.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(v string) error {
		return s.Put(ctx, "o", []storage.Item{{Name: "k", Value: []byte(v)}})
	}
	if err := put("1"); err != nil {
		t.Fatal(err)
	}

	// New sessions are read-only, as on a standby; the store's present
	// ones end, so it dials new ones.
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
	readOnly := false
	for i := 0; i < 50 && !readOnly; i++ {
		err := put("2")
		if err == nil {
			t.Fatal("a write succeeded on a read-only database")
		}
		if !sqlstore.Unavailable(err) {
			t.Errorf("write %d: %v; want an error Unavailable picks", i, err)
		}
		var pg *pgconn.PgError
		readOnly = errors.As(err, &pg) && pg.Code == "25006"
	}
	if !readOnly {
		t.Fatal("no write failed as read-only")
	}
	// With several hosts and no target_session_attrs, a store opens only on
	// a server that takes writes (two names of one server here).
	multi := *u
	multi.Host = u.Host + ",localhost:" + u.Port()
	if s2, err := sqlstore.Open(ctx, multi.String()); err == nil {
		s2.Close()
		t.Error("a multi-host store opened on a read-only server")
	} else if !sqlstore.Unavailable(err) || !strings.Contains(err.Error(), "read only") {
		t.Errorf("multi-host open on a read-only server: %v", err)
	}

	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" RESET default_transaction_read_only"); err != nil {
		t.Fatal(err)
	}
	// The pool now holds the read-only connection only: reused, it would
	// fail this write.
	if err := put("3"); err != nil {
		t.Fatalf("write once the database takes writes again: %v", err)
	}
	if sec, err := s.Get(ctx, "o", "k"); err != nil || string(sec.Value) != "3" {
		t.Fatalf("read back: %q, %v", sec.Value, err)
	}
}

// TestUnavailable: what a server that is down, starting or a standby
// answers is Unavailable; a wrong database name or a bad statement is not.
func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	for _, uri := range []string{
		"postgres://u@" + down + "/db?sslmode=disable&connect_timeout=2",
		"postgres://u@" + down + "," + down + "/db?sslmode=disable",
		"mysql://u@" + down + "/db?timeout=2s",
	} {
		_, err := sqlstore.Open(ctx, uri)
		if err == nil || !sqlstore.Unavailable(err) {
			t.Errorf("open with nothing listening: %v; want an error Unavailable picks", err)
		}
	}
	for _, code := range []string{"25006", "57P01", "57P03", "08006"} {
		if !sqlstore.Unavailable(&pgconn.PgError{Code: code}) {
			t.Errorf("SQLSTATE %s is not Unavailable", code)
		}
	}
	for _, code := range []string{"23505", "42601", "40001", "28P01"} {
		if sqlstore.Unavailable(&pgconn.PgError{Code: code}) {
			t.Errorf("SQLSTATE %s is Unavailable", code)
		}
	}
	if sqlstore.Unavailable(storage.ErrNotFound) || sqlstore.Unavailable(nil) {
		t.Error("ErrNotFound or nil is Unavailable")
	}

	base := storagetest.URI(t, "postgres")
	u, _ := url.Parse(base)
	u.Path = "/" + storagetest.Unique("nosana_missing_")
	_, err = sqlstore.Open(ctx, u.String())
	if err == nil || sqlstore.Unavailable(err) || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("open of a database that does not exist: %v; want a 3D000 error Unavailable does not pick", err)
	}
}
