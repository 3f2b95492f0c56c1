package stack_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestSnapshotThroughTheStack: a backup's Snapshot of the layer below the
// seal layer (Bounded, Checked) is the backend's consistent read: a write
// made while it runs is not in it, as sqlstore's own Snapshot promises.
func TestSnapshotThroughTheStack(t *testing.T) {
	keys, err := seal.ParseKeys(testserver.TestMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	st := storagetest.Open(t, "postgres", func(ctx context.Context, uri string) (storage.Store, error) {
		return stack.Open(ctx, uri, stack.Options{MasterKeys: keys})
	}).(*seal.Store)
	ctx := context.Background()
	owner := storagetest.Unique("snap")
	var items []storage.Item
	const n = 250 // more than a page of Walk
	for i := range n {
		items = append(items, storage.Item{Name: fmt.Sprintf("k%03d", i), Value: []byte{byte(i)}})
	}
	if err := st.Put(ctx, owner, items); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = st.Lower().Snapshot(ctx, func(o string, sec storage.Secret) error {
		if o != owner {
			return nil
		}
		if seen == 0 {
			if err := st.Put(ctx, owner, []storage.Item{{Name: "k999", Value: []byte("x")}}); err != nil {
				return err
			}
		}
		if sec.Name == "k999" {
			return errors.New("a write made after the snapshot began is in it")
		}
		seen++
		return nil
	})
	if err != nil || seen != n {
		t.Fatalf("snapshot saw %d of %d, %v", seen, n, err)
	}
}
