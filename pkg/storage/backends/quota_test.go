package backends_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// TestOpenQuota: Options.Quota reaches the backend through every layer
// (seal, lock and cache on sqlite, Bounded, Checked), and Usage comes back
// up in sealed bytes.
func TestOpenQuota(t *testing.T) {
	for _, uri := range []string{"memory://", "sqlite://" + filepath.Join(t.TempDir(), "q.sqlite")} {
		t.Run(uri[:6], func(t *testing.T) {
			ctx := context.Background()
			s, err := backends.Open(ctx, uri, backends.Options{Quota: storage.Quota{Secrets: 2}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !storage.CountsQuota(s) {
				t.Fatal("the stack does not count quotas")
			}
			if err := s.Put(ctx, "owner", []storage.Item{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}); err != nil {
				t.Fatal(err)
			}
			var qe *storage.QuotaError
			if err := s.Put(ctx, "owner", []storage.Item{{Name: "c", Value: []byte("3")}}); !errors.As(err, &qe) || qe.Limit != storage.LimitSecrets {
				t.Fatalf("a third name: %v", err)
			}
			if _, err := s.Get(ctx, "owner", "c"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the refused name was stored: %v", err)
			}
			u, err := s.Usage(ctx, "owner")
			if err != nil || u.Secrets != 2 || u.Bytes <= 2 {
				t.Fatalf("Usage = %+v, %v; want 2 names of sealed (larger) values", u, err)
			}
		})
	}
}
