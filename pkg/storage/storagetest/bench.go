package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// seed fills a fresh namespace with 1,000 secrets of 100 bytes,
// secret/0000 … secret/0999, removed when b ends, and returns its owner.
func seed(b *testing.B, s storage.Store) (string, []storage.Item) {
	ctx := context.Background()
	owner := Unique("bench-")
	items := make([]storage.Item, 1000)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("secret/%04d", i), Value: randomBytes(100)}
	}
	if err := storage.Check(s).Put(ctx, owner, items); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ns := make([]string, len(items))
		for i, it := range items {
			ns[i] = it.Name
		}
		s.Delete(context.Background(), owner, ns)
	})
	return owner, items
}

// BenchmarkGet measures Get of one of 1,000 secrets of 100 bytes, serially
// and in parallel.
func BenchmarkGet(b *testing.B, s storage.Store) {
	ctx := context.Background()
	owner, items := seed(b, s)
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

// BenchmarkList measures the listings of GET /secrets: all 1,000 secrets
// of 100 bytes, and a prefix of 10 of them.
func BenchmarkList(b *testing.B, s storage.Store) {
	ctx := context.Background()
	owner, _ := seed(b, s)
	for _, c := range []struct {
		name, prefix string
		want         int
	}{{"all", "", 1000}, {"prefix10", "secret/050", 10}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				secs, err := s.List(ctx, owner, c.prefix)
				if err != nil || len(secs) != c.want {
					b.Fatalf("List = %d, %v; want %d", len(secs), err, c.want)
				}
			}
		})
	}
}
