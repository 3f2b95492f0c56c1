package sqlstore_test

import (
	"context"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestSQLiteHistory(t *testing.T) {
	s, err := sqlstore.Open(context.Background(), sqliteURI(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storagetest.RunHistory(t, s)
	storagetest.RunHistoryAdmin(t, s)
}

func openHistory(t *testing.T, backend string) storage.HistoryStore {
	return storagetest.Open(t, backend, open).(storage.HistoryStore)
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
