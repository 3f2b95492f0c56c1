package memstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestMemoryHistory(t *testing.T) {
	s := memstore.New()
	t.Cleanup(func() { s.Close() })
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}
