package browser_test

import (
	"os"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// TestMain points HOME at an empty directory for Chromium and the binary,
// and fails the run if anything was written there.
func TestMain(m *testing.M) {
	finish := testserver.GuardHome()
	os.Exit(finish(m.Run()))
}
