// Package audittest holds what the tests of audit logs share, here and in
// the storage backends: a signer of a fixed seed, and a log's stored size.
package audittest

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// Signer is a signer whose seed is the SHA-256 of label, so a failure
// prints the same signatures in every run, and the keys that trust it.
func Signer(t testing.TB, label string) (*audit.Signer, audit.Keys) {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	s, err := audit.NewSigner(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	keys := audit.Keys{}
	keys.Add(s.PublicKey())
	return s, keys
}

// SignedContext is a background context carrying Signer(t, label), as the
// seal layer sends it to a backend, and the keys that trust it.
func SignedContext(t testing.TB, label string) (context.Context, audit.Keys) {
	t.Helper()
	s, keys := Signer(t, label)
	return audit.WithSigner(context.Background(), s), keys
}

// LogSize is the bytes log takes as stored (audit.StoredSize of each
// event): what storage.Usage.AuditBytes counts of it.
func LogSize(log []audit.Event) int64 {
	var n int64
	for _, e := range log {
		n += audit.StoredSize(e)
	}
	return n
}
