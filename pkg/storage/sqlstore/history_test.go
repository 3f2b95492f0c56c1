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
}

func openHistory(t *testing.T, backend string) storage.HistoryStore {
	return storagetest.Open(t, backend, open).(storage.HistoryStore)
}

func TestPostgresHistory(t *testing.T) { storagetest.RunHistory(t, openHistory(t, "postgres")) }

func TestMySQLHistory(t *testing.T) { storagetest.RunHistory(t, openHistory(t, "mysql")) }
