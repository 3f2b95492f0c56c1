package sqlstore_test

import (
	"context"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestSnapshot: a write made while a snapshot is being read is not in it.
func TestSnapshot(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			var st storage.Store
			if backend == "sqlite" {
				var err error
				if st, err = sqlstore.Open(context.Background(), sqliteURI(t)); err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			} else {
				st = storagetest.Open(t, backend, open)
			}
			// Another connection writes while the snapshot reads (sqlite:
			// one writer, held by the snapshot).
			storagetest.RunSnapshot(t, st.(*sqlstore.Store), backend != "sqlite")
		})
	}
}
