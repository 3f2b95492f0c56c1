package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// benchSigner is a fixed signing key, as the seal layer puts in the ctx.
func benchSigner(b testing.TB) *audit.Signer {
	s, err := audit.NewSigner(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func readEvent(i int) audit.Event {
	return audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{fmt.Sprintf("secret/%04d", i%1000)},
		Actor: "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV", Job: "GNUyAWxo7NCX8KtusRkNVbnPBUXKBvgaMR4kmcNAT3tZ",
		IP: "203.0.113.7", Status: 200}
}

// BenchmarkAppendAudit measures the append of one read event (what every
// flushed read batch and every audited write costs), signed as the server
// signs: serially, in parallel on one owner (appenders racing for the
// head), and serially under an audit quota that trims now and then.
func BenchmarkAppendAudit(b *testing.B) {
	s, _ := openOwn(b)
	ctx := audit.WithSigner(context.Background(), benchSigner(b))
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"serial", ctx}, {"serial-unsigned", context.Background()}} {
		b.Run(c.name, func(b *testing.B) {
			owner := storagetest.Unique("bench-")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.AppendAudit(c.ctx, owner, []audit.Event{readEvent(i)}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		owner := storagetest.Unique("bench-")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := s.AppendAudit(ctx, owner, []audit.Event{readEvent(i)}); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("commit", func(b *testing.B) {
		owner := storagetest.Unique("bench-")
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ev := readEvent(i)
			ev.Action = audit.Write
			_, err := s.Commit(ctx, storage.Commit{Owner: owner, Keep: 3, Event: &ev,
				Changes: []storage.Change{{Name: ev.Keys[0], Value: []byte("sealed value"), CAS: storage.NoCAS}}})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAuditQuery measures a page of 50 events of a log of 5,000:
// unfiltered, and filtered by a key that 1 in 1,000 events hold.
func BenchmarkAuditQuery(b *testing.B) {
	s, _ := openOwn(b)
	ctx := context.Background()
	owner := storagetest.Unique("bench-")
	for j := 0; j < 5000; j += 500 {
		evs := make([]audit.Event, 500)
		for i := range evs {
			evs[i] = readEvent(j + i)
		}
		if err := s.AppendAudit(ctx, owner, evs); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		q    storage.AuditQuery
		want int
	}{
		{"all", storage.AuditQuery{Limit: 50}, 50},
		{"key", storage.AuditQuery{Limit: 50, Key: "secret/0042"}, 5},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.Audit(ctx, owner, c.q)
				if err != nil || len(p.Events) != c.want {
					b.Fatalf("Audit = %d events, %v; want %d", len(p.Events), err, c.want)
				}
			}
		})
	}
}
