package mongostore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func wantUse(t *testing.T, s *mongostore.Store, owner string, secrets, bytes int64) {
	t.Helper()
	u, err := s.Usage(context.Background(), owner)
	if err != nil || u != (storage.Usage{Secrets: secrets, Bytes: bytes}) {
		t.Fatalf("usage %+v, %v; want %d names, %d bytes", u, err, secrets, bytes)
	}
}

// TestQuotaLimits: Put and Commit are refused whole past a limit, saying
// which and the use; deletes make room.
func TestQuotaLimits(t *testing.T) {
	s := openAs(t, false)
	s.SetQuota(storage.Quota{Secrets: 2, Bytes: 10})
	ctx := context.Background()
	owner := storagetest.Unique("quota-")
	if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("12345")}, {Name: "b", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, s, owner, 2, 6)
	var qe *storage.QuotaError
	err := s.Put(ctx, owner, []storage.Item{{Name: "b", Value: []byte("2")}, {Name: "c", Value: []byte("1")}})
	if !errors.As(err, &qe) || *qe != (storage.QuotaError{Limit: storage.LimitSecrets, Used: 2, Max: 2}) {
		t.Fatalf("a third name: %v", err)
	}
	if sec, _ := s.Get(ctx, owner, "b"); string(sec.Value) != "1" {
		t.Fatalf("a refused batch wrote b: %q", sec.Value)
	}
	_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "a", Value: []byte("1234567890"), CAS: storage.NoCAS}}})
	if !errors.As(err, &qe) || *qe != (storage.QuotaError{Limit: storage.LimitBytes, Used: 6, Max: 10}) {
		t.Fatalf("a version past the byte limit: %v", err)
	}
	wantUse(t, s, owner, 2, 6)
	if err := s.Delete(ctx, owner, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, s, owner, 1, 1)
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "c", Value: []byte("123"), CAS: 0}}}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, s, owner, 2, 4)
}

// TestQuotaCrashOverCounts: a write that stops after its reservation
// leaves its owner counted too high, never too low; Recount repairs it.
func TestQuotaCrashOverCounts(t *testing.T) {
	s := openAs(t, false)
	s.SetQuota(storage.Quota{Secrets: 3})
	ctx := context.Background()
	owner := storagetest.Unique("quota-")
	if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := mongostore.Reserve(ctx, s, owner, storage.Usage{Secrets: 2, Bytes: 2}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, s, owner, 3, 3)
	var qe *storage.QuotaError
	if err := s.Put(ctx, owner, []storage.Item{{Name: "b", Value: []byte("1")}}); !errors.As(err, &qe) {
		t.Fatalf("a write into the room the crash took: %v", err)
	}
	if err := s.Recount(ctx, owner); err != nil {
		t.Fatal(err)
	}
	wantUse(t, s, owner, 1, 1)
	if err := s.Put(ctx, owner, []storage.Item{{Name: "b", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
}
