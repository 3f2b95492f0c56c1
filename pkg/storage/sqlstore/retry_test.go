package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40P01"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&mysql.MySQLError{Number: 1213}, true},
		{&mysql.MySQLError{Number: 1205}, true},
		{&mysql.MySQLError{Number: 1062}, false},
		{errors.New("connection refused"), false},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

// TestRetryableSQLiteBusy provokes a real SQLITE_BUSY (two writers, no
// busy timeout) and checks that it is classified as transient.
func TestRetryableSQLiteBusy(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "busy.sqlite") + "?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c1.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer c1.ExecContext(ctx, "ROLLBACK")
	_, err = c2.ExecContext(ctx, "BEGIN IMMEDIATE")
	if err == nil {
		t.Fatal("second writer got the lock")
	}
	if !retryable(err) {
		t.Fatalf("retryable(%v) = false", err)
	}
}

func TestWriteRetries(t *testing.T) {
	s := &Store{}
	ctx := context.Background()
	calls := 0
	err := s.write(ctx, func() error {
		calls++
		if calls < 4 {
			return &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("write = %v after %d calls; want success after 4", err, calls)
	}

	calls = 0
	permanent := &pgconn.PgError{Code: "23502"}
	if err := s.write(ctx, func() error { calls++; return permanent }); !errors.Is(err, permanent) || calls != 1 {
		t.Fatalf("write = %v after %d calls; want the error after 1", err, calls)
	}

	calls = 0
	if err := s.write(ctx, func() error { calls++; return &pgconn.PgError{Code: "40P01"} }); err == nil || calls != maxAttempts {
		t.Fatalf("write = %v after %d calls; want failure after %d", err, calls, maxAttempts)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.write(canceled, func() error { return &pgconn.PgError{Code: "40001"} }); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with a canceled context = %v", err)
	}
}
