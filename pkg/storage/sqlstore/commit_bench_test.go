package sqlstore_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// BenchmarkSQLiteWrite is one key written the way the server writes it:
// Put without history, Commit with its audit event and MAX_VERSIONS.
// Beside ns/op it reports the process's CPU time per op (cpu-µs/op),
// which other load on the machine moves far less, and put/commit in
// the commit run: Put's CPU per op over Commit's, measured in the same
// run (issue 11 wants a write with history at >= 0.80 of one without).
// For profiling (go test -bench SQLiteWrite -cpuprofile); HTTP figures
// come from bench/history.sh.
func BenchmarkSQLiteWrite(b *testing.B) { benchWrite(b, sqlstore.SQLite) }

// BenchmarkPostgresWrite and BenchmarkMySQLWrite are the same on the test
// databases (NOSANA_TEST_POSTGRES, NOSANA_TEST_MYSQL). Their cpu-µs/op is
// this process only, not the database server's.
func BenchmarkPostgresWrite(b *testing.B) { benchWrite(b, sqlstore.Postgres) }

func BenchmarkMySQLWrite(b *testing.B) { benchWrite(b, sqlstore.MySQL) }

// benchStore opens a store of backend for one benchmark (a sqlite file of
// its own, or the test database), closed when the benchmark ends, with an
// owner of its own and a context with a deadline, as the server's requests
// have (STORE_TIMEOUT): with one the driver watches each statement.
func benchStore(b *testing.B, backend string) (*sqlstore.Store, string, context.Context) {
	s := openURI(b, backendURI(b, backend))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return s, storagetest.Unique("bench-"), ctx
}

func benchWrite(b *testing.B, backend string) {
	value := []byte("a value of some forty bytes, like a key, sealed: 0123456789abcdef")
	var putCPU float64
	for _, mode := range []string{"put", "commit"} {
		b.Run(mode, func(b *testing.B) {
			s, owner, ctx := benchStore(b, backend)
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				var err error
				name := fmt.Sprint("p-", i%100)
				if mode == "put" {
					err = s.Put(ctx, owner, []storage.Item{{Name: name, Value: value}})
				} else {
					ev := audit.Event{Action: audit.Write, Keys: []string{name}, Actor: owner, IP: "127.0.0.1", Status: 200}
					_, err = s.Commit(ctx, storage.Commit{Owner: owner, By: storage.Writer{Address: owner}, Keep: 20, Event: &ev,
						Changes: []storage.Change{{Name: name, Value: value, CAS: storage.NoCAS}}})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := float64((cpuTime(b) - cpu0).Microseconds()) / float64(b.N)
			b.ReportMetric(cpu, "cpu-µs/op")
			if mode == "put" {
				putCPU = cpu
			} else if putCPU > 0 {
				b.ReportMetric(putCPU/cpu, "put/commit")
			}
		})
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
