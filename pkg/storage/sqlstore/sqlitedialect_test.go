package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// TestSQLiteFileFormat pins what the driver writes to the file: times as
// the text the glebarez driver wrote before (so files written by older
// releases read and compare the same, created_at <= ? included) and empty
// values as empty blobs, never NULL, even when a caller passes nil to the
// store itself rather than through storage.Checked.
func TestSQLiteFileFormat(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "format.sqlite")
	s, err := sqlstore.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, "o", []storage.Item{{Name: "nil", Value: nil}, {Name: "x", Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, storage.Commit{Owner: "o", Keep: 20,
		Changes: []storage.Change{{Name: "h", Value: nil, CAS: storage.NoCAS}}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Swap(ctx, "o", "x", []byte("x"), nil); err != nil || !ok {
		t.Fatalf("Swap to nil: %v, %v", ok, err)
	}
	if err := s.PutMeta(ctx, "m", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nil", "x", "h"} {
		sec, err := s.Get(ctx, "o", name)
		if err != nil || sec.Value == nil || len(sec.Value) != 0 {
			t.Errorf("Get %q = %q, %v; want empty", name, sec.Value, err)
		}
	}

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?\+00:00$`)
	for _, q := range []string{
		`SELECT CAST(created_at AS TEXT) FROM secrets`,
		`SELECT CAST(updated_at AS TEXT) FROM secrets`,
		`SELECT CAST(created_at AS TEXT) FROM secret_versions`,
	} {
		rows, err := raw.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if !stamp.MatchString(v) {
				t.Errorf("%s: %q, want 2006-01-02 15:04:05.999999+00:00", q, v)
			}
			n++
		}
		if err := rows.Err(); err != nil || n == 0 {
			t.Fatalf("%s: %d rows, %v", q, n, err)
		}
		rows.Close()
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM secrets WHERE typeof(value) <> 'blob'`,
		`SELECT COUNT(*) FROM secret_versions WHERE typeof(value) <> 'blob'`,
		`SELECT COUNT(*) FROM meta WHERE typeof(value) <> 'blob'`,
	} {
		var n int
		if err := raw.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d, %v; want 0", q, n, err)
		}
	}
}
