package mongostore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func open(ctx context.Context, uri string) (storage.Store, error) { return mongostore.Open(ctx, uri) }

// openAs opens a database of t's own with the FerretDB update lock on or
// off, whatever server it is.
func openAs(t testing.TB, serial bool) *mongostore.Store {
	return openURI(t, storagetest.MongoDB(t), serial)
}

func openURI(t testing.TB, uri string, serial bool) *mongostore.Store {
	t.Helper()
	s := storagetest.OpenURI(t, "mongodb", uri, func(ctx context.Context, uri string) (storage.Store, error) {
		if tally != nil {
			return tally.Open(ctx, uri)
		}
		return mongostore.Open(ctx, uri)
	}).(*mongostore.Store)
	mongostore.SetSerial(s, serial)
	return s
}

// runAll runs every conformance suite, each case on a database of its own.
func runAll(t *testing.T, serial bool) {
	open := func(t *testing.T) *mongostore.Store { return openAs(t, serial) }
	storagetest.RunEach(t, func(t *testing.T) storage.Store { return open(t) })
	history := func(t *testing.T) storage.HistoryStore { return open(t) }
	storagetest.RunHistoryEach(t, history)
	storagetest.RunHistoryAdminEach(t, history)
	storagetest.RunQuotaEach(t, func(t *testing.T) storage.Store { return open(t) })
}

// TestMongoDB runs the suites on the path MongoDB and DocumentDB run: no
// lock in this process, every race decided by the server. On FerretDB that
// needs test/ferretdb's front, which makes each write atomic as MongoDB
// does (FerretDB v1 alone loses concurrent updates).
func TestMongoDB(t *testing.T) { runAll(t, false) }

// TestMongoDBSerial runs them again with the lock that Open turns on for
// FerretDB, the one branch that differs.
func TestMongoDBSerial(t *testing.T) { runAll(t, true) }

// TestRacesAcrossClients races UseNonce and Incr from four stores, each its
// own connection pool with its own lock, as four replicas would: only the
// server can make one nonce win and the increments add up.
func TestRacesAcrossClients(t *testing.T) {
	const clients, each = 4, 50
	stores := make([]*mongostore.Store, clients)
	uri := storagetest.MongoDB(t)
	for i := range stores {
		stores[i] = openURI(t, uri, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exp := time.Now().Add(time.Hour)
	nonce, counter := storagetest.Unique("race-nonce-"), storagetest.Unique("race-ctr-")
	var wg sync.WaitGroup
	var wins atomic.Int32
	for _, s := range stores {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.UseNonce(ctx, nonce, exp)
				if err != nil {
					t.Errorf("UseNonce: %v", err)
				}
				if ok {
					wins.Add(1)
				}
				for range each {
					if _, err := s.Incr(ctx, counter, 1, exp); err != nil {
						t.Errorf("Incr: %v", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d of %d uses of one nonce from %d clients succeeded, want 1", wins.Load(), 4*clients, clients)
	}
	if got, err := stores[0].Incr(ctx, counter, 0, exp); err != nil || got != 4*clients*each {
		t.Errorf("after %d increments from %d clients: %d, %v", 4*clients*each, clients, got, err)
	}
}

// TestPutDuplicateKey plants a document that holds (owner, "b") under
// another _id, so that both the insert of b and every upsert of it fail
// with a duplicate key: Put must give up with that error after its
// retries, having applied the item before b exactly once and none after.
func TestPutDuplicateKey(t *testing.T) {
	s := openAs(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owner := storagetest.Unique("dup-")
	if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	planted := bson.D{{Key: "_id", Value: owner + "/planted"}, {Key: "owner", Value: owner}, {Key: "name", Value: "b"}}
	if _, err := mongostore.Secrets(s).InsertOne(ctx, planted); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mongostore.Secrets(s).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: owner + "/planted"}})
		s.Delete(context.Background(), owner, []string{"a", "b", "c"})
	})
	err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("2")}, {Name: "b", Value: []byte("x")}, {Name: "c", Value: []byte("y")}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("Put = %v; want a duplicate key error", err)
	}
	// On FerretDB Put gives up at once (see bulkUpsert); elsewhere it
	// retries b and c, never a.
	if sec, err := s.Get(ctx, owner, "a"); err != nil || string(sec.Value) != "2" || sec.Version != 2 {
		t.Fatalf("a = %q version %d, %v; want 2 version 2 (written once)", sec.Value, sec.Version, err)
	}
	if _, err := s.Get(ctx, owner, "c"); err != storage.ErrNotFound {
		t.Fatalf("c after the failed Put: %v; want not found (ordered writes stop at b)", err)
	}
}

// TestTransactionsFound: Open asks the server (buildInfo, hello) whether
// batches can be transactions; FerretDB, which CI runs, has none, so the
// store keeps the path without them (see TestSupportsTransactions for
// replica sets and mongos, which CI cannot run).
func TestTransactionsFound(t *testing.T) {
	s := openAs(t, false)
	if mongostore.Ferret(s) && s.Transactions() {
		t.Fatal("batches would be transactions on FerretDB")
	}
	t.Logf("FerretDB: %v, transactions: %v", mongostore.Ferret(s), s.Transactions())
}

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
