package cmd_test

import (
	"os"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// TestMain runs the command line's end-to-end tests with HOME pointed at
// an empty directory that must stay empty: every test keeps its keypairs,
// tokens and stores in its own directories (issue 21, finding 3).
func TestMain(m *testing.M) {
	finish := testserver.GuardHome()
	os.Exit(finish(m.Run()))
}
