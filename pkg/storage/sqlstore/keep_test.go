package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestKeepCounted checks the bytes a Commit frees when it pushes versions
// past Keep, both when the newest is a kept version (summed by the state
// query) and when Put wrote the newest outside the history (summed apart).
func TestKeepCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		ctx := context.Background()
		s := openURI(t, backendURI(t, b))
		owner := storagetest.Unique("keep-")
		commit := func(value string) {
			t.Helper()
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Keep: 3,
				Changes: []storage.Change{{Name: "k", Value: []byte(value), CAS: storage.NoCAS}}}); err != nil {
				t.Fatal(err)
			}
		}
		want := func(bytes int64) {
			t.Helper()
			u, err := s.Usage(ctx, owner)
			if err != nil || u != (storage.Usage{Secrets: 1, Bytes: bytes}) {
				t.Fatalf("usage %+v, %v; want 1 name, %d bytes", u, err, bytes)
			}
		}
		for i := 1; i <= 5; i++ { // versions 3, 4, 5 kept: 3+4+5 bytes
			commit(strings.Repeat("x", i))
		}
		want(12)
		// Put writes version 6 outside the history (6 bytes), then a
		// Commit writes 7 (7 bytes) and pushes 3 and 4 out.
		if err := s.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte("yyyyyy")}}); err != nil {
			t.Fatal(err)
		}
		want(18)
		commit("zzzzzzz")
		want(5 + 7)
		commit("") // 8 pushes 5 out
		want(7)
	})
}
