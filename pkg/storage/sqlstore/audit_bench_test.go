package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// BenchmarkSQLiteAppendAudit is the append of a flushed read batch: one
// event of one key per op (single), or ten (batch10). The Postgres and
// MySQL variants run on the test databases.
func BenchmarkSQLiteAppendAudit(b *testing.B) {
	benchAppend(b, func(b *testing.B) string { return "sqlite://" + b.TempDir() + "/b.sqlite" })
}

func BenchmarkPostgresAppendAudit(b *testing.B) {
	benchAppend(b, func(b *testing.B) string { return storagetest.URI(b, "postgres") })
}

func BenchmarkMySQLAppendAudit(b *testing.B) {
	benchAppend(b, func(b *testing.B) string { return storagetest.URI(b, "mysql") })
}

func benchAppend(b *testing.B, uri func(*testing.B) string) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s, err := sqlstore.Open(context.Background(), uri(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			owner := storagetest.Unique("bench-")
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			events := make([]audit.Event, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for j := range events {
					events[j] = audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{fmt.Sprint("k-", (i+j)%100)},
						Actor: owner, Job: "job", IP: "127.0.0.1", Status: 200}
				}
				if err := s.AppendAudit(ctx, owner, events); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
