package e2e_test

import (
	"os"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestMain names the backends whose tests were skipped, and fails the run
// if any test wrote into HOME (issue 21: none may touch the real one).
func TestMain(m *testing.M) {
	finish := testserver.GuardHome()
	os.Exit(finish(storagetest.MainCode(m)))
}
