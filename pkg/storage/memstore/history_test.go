package memstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestMemoryHistory(t *testing.T) {
	s := newStore(t)
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}
