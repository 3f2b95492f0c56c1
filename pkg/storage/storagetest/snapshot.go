package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// RunSnapshot checks that s.Snapshot is one consistent read: it sees every
// secret written before it and, when writeDuring is set, not one written
// while it runs (set it where a second connection can write meanwhile;
// sqlite's one writer is held by the snapshot).
func RunSnapshot(t *testing.T, s storage.Backend, writeDuring bool) {
	t.Helper()
	ctx := context.Background()
	owner := Unique("snap")
	var items []storage.Item
	const n = 250 // more than a page of Walk
	for i := range n {
		items = append(items, storage.Item{Name: fmt.Sprintf("k%03d", i), Value: []byte{byte(i)}})
	}
	if err := s.Put(ctx, owner, items); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err := s.Snapshot(ctx, func(o string, sec storage.Secret) error {
		if o != owner {
			return nil
		}
		if seen == 0 && writeDuring {
			if err := s.Put(ctx, owner, []storage.Item{{Name: "k999", Value: []byte("x")}}); err != nil {
				return err
			}
		}
		if sec.Name == "k999" {
			return errors.New("a write made after the snapshot began is in it")
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Errorf("snapshot saw %d secrets, want %d", seen, n)
	}
}
