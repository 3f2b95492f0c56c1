package mongostore_test

import (
	"context"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func open(ctx context.Context, uri string) (storage.Store, error) { return mongostore.Open(ctx, uri) }

func TestMongoDB(t *testing.T) { storagetest.Run(t, storagetest.Open(t, "mongodb", open)) }

func TestParseURI(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://localhost":  mongostore.DefaultDatabase,
		"mongodb://localhost/": mongostore.DefaultDatabase,
		"mongodb://u:p%40ss@h1:27017,h2:27017/app?replicaSet=rs0":                                     "app",
		"mongodb://u:pw@docdb.example:27017/secrets?tls=true&tlsCAFile=/etc/ca.pem&retryWrites=false": "secrets",
		"mongodb+srv://u:pw@cluster.example/prod?retryWrites=true":                                    "prod",
	} {
		got, err := mongostore.ParseURI(uri)
		if err != nil || got != want {
			t.Errorf("ParseURI(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	for _, bad := range []string{"mongodb://", "mongodb://h/a.b", "mongodb://h/a$b", "mongodb://u:%zz@h/db", "mongodb://h/db?tls=maybe", "postgres://h/db"} {
		if db, err := mongostore.ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) = %q, accepted", bad, db)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	storagetest.BenchmarkGet(b, storagetest.Open(b, "mongodb", open))
}
