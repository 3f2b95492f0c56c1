package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// SetSerial turns the FerretDB update lock (see lock) on or off, so that a
// test can run either branch on any server.
func SetSerial(s *Store, on bool) {
	s.serial = nil
	if on {
		s.serial = make(chan struct{}, 1)
	}
}

// Database returns the store's database, for tests that drop it.
func Database(s *Store) *mongo.Database { return s.secrets.Database() }

// Secrets returns the secrets collection, for tests that plant documents.
func Secrets(s *Store) *mongo.Collection { return s.secrets }

// Versions and AuditHeads return history collections, for tests that
// plant what a crash between two writes leaves.
func Versions(s *Store) *mongo.Collection   { return s.versions }
func AuditHeads(s *Store) *mongo.Collection { return s.auditHeads }

// Reserve takes room for owner as a write does before writing, for tests
// of a write that stops after it.
func Reserve(ctx context.Context, s *Store, owner string, u storage.Usage) error {
	return s.reserve(ctx, owner, u, u)
}

// Ferret reports whether s found FerretDB.
func Ferret(s *Store) bool { return s.ferret }

// SetCrash makes s call fn between the steps of an audit append and trim
// (named as in auditlog.go): a test's fn panics to stop there as a crash
// would.
func SetCrash(s *Store, fn func(step string)) { s.crash = fn }

// Events returns the audit collection, for tests that plant what a
// previous release wrote.
func Events(s *Store) *mongo.Collection { return s.events }

// Metas returns the meta collection.
func Metas(s *Store) *mongo.Collection { return s.metas }

// VID is the _id of a version document, for tests that plant one.
func VID(owner, name string, v int64) string { return vid(owner, name, v) }
