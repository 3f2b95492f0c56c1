package mongostore_test

import (
	"os"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// tally, when set, counts the commands of every store the tests open.
var tally *mongostore.Tally

// TestMain names the backends whose tests were skipped. With
// NOSANA_MONGO_TALLY=file it writes there what commands the stores sent
// (see Tally).
func TestMain(m *testing.M) {
	if path := os.Getenv("NOSANA_MONGO_TALLY"); path != "" {
		tally = mongostore.NewTally()
		code := m.Run()
		tally.Write(path)
		os.Exit(code)
	}
	storagetest.Main(m)
}
