package stack_test

import (
	"context"
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
	storagetest.RunSnapshot(t, st.Lower(), true)
}
