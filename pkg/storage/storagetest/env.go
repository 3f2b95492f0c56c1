// Package storagetest is the conformance suite that every storage.Store
// backend runs against a real database, plus helpers that find the test
// databases.
//
// Test databases come from environment variables holding URIs in the
// STORAGE_CONNECTION form:
//
//	NOSANA_TEST_POSTGRES  postgres://postgres@127.0.0.1:5432/nosana_test?sslmode=disable
//	NOSANA_TEST_MYSQL     mysql://root@127.0.0.1:3306/nosana_test
//	NOSANA_TEST_REDIS     redis://127.0.0.1:6379/0
//	NOSANA_TEST_MONGODB   mongodb://127.0.0.1:27017/nosana_test
//
// NOSANA_TEST_PG_FAILOVER is "URI VERSION/PRIMARY VERSION/STANDBY": a
// multi-host URI over a primary and its standby, and their Debian cluster
// names, which test/e2e stops and promotes (see .ci/pgfailover.sh).
//
// An unset variable skips the test, unless CI is set: then it fails, so a
// CI run cannot pass by testing nothing; a package whose TestMain is Main
// names the skipped backends. Many packages may share these
// databases at once; tests isolate themselves with random owners and keys.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// EnvVar returns the variable that names the test database of backend
// ("postgres", "mysql", "redis" or "mongodb").
func EnvVar(backend string) string { return "NOSANA_TEST_" + strings.ToUpper(backend) }

// URI returns the test database URI of backend. When its variable is unset
// it skips the test, or fails it when running in CI.
func URI(t testing.TB, backend string) string {
	t.Helper()
	name := EnvVar(backend)
	uri := os.Getenv(name)
	if uri == "" {
		if ci.On() {
			t.Fatalf("%s is not set, and CI is: %s tests must run in CI (see .ci/run)", name, backend)
		}
		noteSkip(backend)
		t.Skipf("%s is not set: skipping the %s tests", name, backend)
	}
	return uri
}

// Open opens the test database of backend with open and closes it when the
// test ends. A database that is configured but unreachable fails the test:
// whoever set the variable wants it tested.
func Open(t testing.TB, backend string, open func(ctx context.Context, uri string) (storage.Store, error)) storage.Store {
	t.Helper()
	return OpenURI(t, backend, URI(t, backend), open)
}

// openTimeout bounds one open of a test database.
const openTimeout = 30 * time.Second

// timedOut holds, per backend, the error of an open that ran out of
// openTimeout. A server that does not answer at all (MongoDB's driver
// waits for one until the deadline) then fails each later test of the
// package at once, instead of after 30 s each: a conformance run that
// opens a database per case would otherwise take most of an hour to fail.
var timedOut sync.Map

// OpenURI is Open of a URI of the caller's (a database of a test's own).
func OpenURI(t testing.TB, backend, uri string, open func(ctx context.Context, uri string) (storage.Store, error)) storage.Store {
	t.Helper()
	if err, ok := timedOut.Load(backend); ok {
		t.Fatalf("opening %s from %s: an earlier open got no answer within %s, not trying again: %v", backend, EnvVar(backend), openTimeout, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	s, err := open(ctx, uri)
	if err != nil {
		if ctx.Err() != nil {
			timedOut.Store(backend, err)
		}
		// err comes from the backend: print the variable, not the URI.
		t.Fatalf("opening %s from %s: %v", backend, EnvVar(backend), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Unique returns prefix followed by random hex, for owners and keys that no
// other test run uses.
func Unique(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
