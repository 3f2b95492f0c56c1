package sqlstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestSQLiteHistory(t *testing.T) {
	s := openURI(t, sqliteURI(t))
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}

func openHistory(t *testing.T, backend string) storage.HistoryStore {
	return storagetest.Open(t, backend, open)
}

func TestPostgresHistory(t *testing.T) {
	s := openHistory(t, "postgres")
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}

func TestMySQLHistory(t *testing.T) {
	s := openHistory(t, "mysql")
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}
