package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// BenchmarkSQLiteAppendAudit is the append of a flushed read batch: one
// event of one key per op (single), or ten (batch10). The Postgres and
// MySQL variants run on the test databases.
func BenchmarkSQLiteAppendAudit(b *testing.B) { benchAppend(b, sqlstore.SQLite) }

func BenchmarkPostgresAppendAudit(b *testing.B) { benchAppend(b, sqlstore.Postgres) }

func BenchmarkMySQLAppendAudit(b *testing.B) { benchAppend(b, sqlstore.MySQL) }

func benchAppend(b *testing.B, backend string) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s, owner, ctx := benchStore(b, backend)
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
