package mongostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// BenchmarkAppendAudit measures the append path that every write and
// every flushed batch of reads takes: one event, a batch of ten, and a
// commit of one name with its event, each signed when a signer is in ctx.
func BenchmarkAppendAudit(b *testing.B) {
	s := openAs(b, true)
	signer, err := audit.NewSigner(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	ctx := audit.WithSigner(context.Background(), signer)
	ev := audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{"DB_PASSWORD"}, Actor: "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV", IP: "203.0.113.7", Status: 200}
	ten := make([]audit.Event, 10)
	for i := range ten {
		ten[i] = ev
	}
	owner := storagetest.Unique("bench-")
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AppendAudit(ctx, owner, []audit.Event{ev}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AppendAudit(ctx, owner, ten); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("commit", func(b *testing.B) {
		b.ReportAllocs()
		w := ev
		w.Action = audit.Write
		for b.Loop() {
			e := w
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Keep: 5, Event: &e,
				Changes: []storage.Change{{Name: "DB_PASSWORD", Value: []byte("value"), CAS: storage.NoCAS}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
