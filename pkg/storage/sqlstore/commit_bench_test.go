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
)

// BenchmarkSQLiteWrite is one key written the way the server writes it:
// Put without history, Commit with its audit event and MAX_VERSIONS.
// Beside ns/op it reports the process's CPU time per op (cpu-µs/op),
// which other load on the machine moves far less. For profiling
// (go test -bench SQLiteWrite -cpuprofile); speed claims come from
// bench/history.sh.
func BenchmarkSQLiteWrite(b *testing.B) {
	value := []byte("a value of some forty bytes, like a key, sealed: 0123456789abcdef")
	for _, mode := range []string{"put", "commit"} {
		b.Run(mode, func(b *testing.B) {
			s, err := sqlstore.Open(context.Background(), "sqlite://"+b.TempDir()+"/b.sqlite")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprint("p-", i%100)
				if mode == "put" {
					err = s.Put(ctx, "owner", []storage.Item{{Name: name, Value: value}})
				} else {
					ev := audit.Event{Action: audit.Write, Keys: []string{name}, Actor: "owner", IP: "127.0.0.1", Status: 200}
					_, err = s.Commit(ctx, storage.Commit{Owner: "owner", By: storage.Writer{Address: "owner"}, Keep: 20, Event: &ev,
						Changes: []storage.Change{{Name: name, Value: value, CAS: storage.NoCAS}}})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
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
