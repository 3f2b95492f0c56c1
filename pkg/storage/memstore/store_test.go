package memstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// newStore is a memory store of t's own, closed when t ends.
func newStore(t testing.TB) *memstore.Store {
	s := memstore.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMemory(t *testing.T) { storagetest.Run(t, newStore(t)) }
