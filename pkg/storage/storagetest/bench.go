package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// BenchmarkGet fills a fresh namespace with 1,000 secrets of 100 bytes and
// measures Get of one of them, serially and in parallel.
func BenchmarkGet(b *testing.B, s storage.Store) {
	ctx := context.Background()
	owner := Unique("bench-")
	items := make([]storage.Item, 1000)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("secret/%04d", i), Value: randomBytes(100)}
	}
	if err := s.Put(ctx, owner, items); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ns := make([]string, len(items))
		for i, it := range items {
			ns[i] = it.Name
		}
		s.Delete(context.Background(), owner, ns)
	})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, owner, items[i%len(items)].Name); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Get(ctx, owner, items[i%len(items)].Name); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
	})
}
