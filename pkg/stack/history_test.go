package stack_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestStackHistory runs the history cases through the whole stack that
// serve uses (seal, sqlite lock and cache, Checked), and checks what each
// layer adds: versions sealed below the seal layer, the cache evicted by
// a Commit, bad input refused once.
func TestStackHistory(t *testing.T) {
	key := [][]byte{bytes.Repeat([]byte{3}, seal.KeySize)}
	for name, uri := range map[string]func(t *testing.T) string{
		"sqlite":        func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "h.sqlite") },
		"memory":        func(*testing.T) string { return "memory://" },
		"redis":         func(t *testing.T) string { return ownPrefix(storagetest.URI(t, "redis")) },
		"redis_cluster": func(t *testing.T) string { return ownPrefix(storagetest.URI(t, "redis_cluster")) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			uri := uri(t)
			s, err := stack.Open(ctx, uri, stack.Options{MasterKeys: key})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			storagetest.RunHistory(t, s)
			storagetest.RunHistoryAdmin(t, s)

			owner := storagetest.Unique("stack-")
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{
				{Name: "k", Value: []byte("plain one"), CAS: storage.NoCAS}}}); err != nil {
				t.Fatal(err)
			}
			if sec, err := s.Get(ctx, owner, "k"); err != nil || string(sec.Value) != "plain one" {
				t.Fatalf("Get = %q, %v", sec.Value, err)
			}
			// A cached read must not survive the next commit.
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{
				{Name: "k", Value: []byte("plain two"), CAS: 1}}}); err != nil {
				t.Fatal(err)
			}
			if sec, err := s.Get(ctx, owner, "k"); err != nil || string(sec.Value) != "plain two" || sec.Version != 2 {
				t.Fatalf("Get after commit = %q v%d, %v", sec.Value, sec.Version, err)
			}
			lower := s.Lower()
			v1, err := lower.GetVersion(ctx, owner, "k", 1)
			if err != nil || bytes.Contains(v1.Value, []byte("plain")) {
				t.Fatalf("version 1 below the seal layer: %q, %v", v1.Value, err)
			}
			if got, err := s.GetVersion(ctx, owner, "k", 1); err != nil || string(got.Value) != "plain one" {
				t.Fatalf("version 1 through the stack: %q, %v", got.Value, err)
			}
			// Imports are sealed below the seal layer and sorted by Checked.
			t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
			if err := s.ImportVersions(ctx, owner, []storage.Version{
				{Name: "imp", Version: 2, Value: []byte("plain new"), CreatedAt: t0.Add(time.Minute)},
				{Name: "imp", Version: 1, Value: []byte("plain old"), CreatedAt: t0},
			}); err != nil {
				t.Fatal(err)
			}
			if sec, err := s.Get(ctx, owner, "imp"); err != nil || string(sec.Value) != "plain new" || sec.Version != 2 {
				t.Fatalf("Get of an import = %q v%d, %v", sec.Value, sec.Version, err)
			}
			if v, err := lower.GetVersion(ctx, owner, "imp", 1); err != nil || bytes.Contains(v.Value, []byte("plain")) {
				t.Fatalf("an imported version below the seal layer: %q, %v", v.Value, err)
			}
			if err := s.ImportVersions(ctx, owner, []storage.Version{{Name: "dup", Version: 1}, {Name: "dup", Version: 1}}); !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("a version twice in an import: %v", err)
			}
			_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{
				{Name: "a", CAS: storage.NoCAS}, {Name: "a", CAS: storage.NoCAS}}})
			if !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("a name twice in a commit: %v", err)
			}
			_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "", CAS: storage.NoCAS}}})
			if !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("an empty name: %v", err)
			}
		})
	}
}
