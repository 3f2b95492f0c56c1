package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
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
			s := st.(*sqlstore.Store)
			ctx := context.Background()
			owner := storagetest.Unique("snap")
			var items []storage.Item
			const n = 250 // more than a page of Walk
			for i := range n {
				items = append(items, storage.Item{Name: fmt.Sprintf("k%03d", i), Value: []byte{byte(i)}})
			}
			if err := s.Put(ctx, owner, items); err != nil {
				t.Fatal(err)
			}
			seen := 0
			err := s.Snapshot(ctx, func(o string, sec storage.Secret) error {
				if o != owner {
					return nil
				}
				if seen == 0 && backend != "sqlite" {
					// Another connection writes while the snapshot reads
					// (sqlite: one writer, held by the snapshot).
					if err := s.Put(ctx, owner, []storage.Item{{Name: "k999", Value: []byte("x")}}); err != nil {
						return err
					}
				}
				if sec.Name == "k999" {
					return errors.New("a write made after the snapshot began is in it")
				}
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != n {
				t.Errorf("snapshot saw %d secrets, want %d", seen, n)
			}
		})
	}
}
