package sqlstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestSnapshot: a write made while a snapshot is being read is not in it.
func TestSnapshot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		// Another connection writes while the snapshot reads (sqlite:
		// one writer, held by the snapshot).
		storagetest.RunSnapshot(t, openBackend(t, backend), backend != "sqlite")
	})
}
