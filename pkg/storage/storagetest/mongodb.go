package storagetest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
)

// MongoDB returns the test MongoDB's URI (as URI gives it) with a database
// of t's own, dropped when t has passed (kept as evidence when it fails).
// FerretDB v1 on SQLite answers most queries by decoding every document
// of a collection (it pushes only an _id filter down), so on one shared
// database each test would pay for all the others' documents; a database
// each gives it the cost a real MongoDB's indexes give.
func MongoDB(t testing.TB) string {
	t.Helper()
	base := URI(t, "mongodb")
	db, err := mongostore.ParseURI(base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	db += "_" + Unique("")[:12]
	u.Path = "/" + db
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(base))
		if err == nil {
			err = c.Database(db).Drop(ctx)
			_ = c.Disconnect(ctx)
		}
		if err != nil {
			t.Logf("dropping the test database: %v", err)
		}
	})
	return u.String()
}
