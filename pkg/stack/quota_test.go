package stack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"

	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// ownPrefix gives a Redis URI a key prefix of its own: a key check (and
// master key) of its own.
func ownPrefix(uri string) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "key_prefix=" + storagetest.Unique("stack") + ":"
}

// TestOpenQuota: Options.Quota, the audit quota included, reaches the
// backend through every layer (seal, lock and cache on sqlite, Bounded,
// Checked), and Usage comes back up in sealed bytes.
func TestOpenQuota(t *testing.T) {
	const auditQuota = 4 << 10 // some ten events
	for name, uri := range map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "memory://" },
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "q.sqlite") },
		"redis":  func(t *testing.T) string { return ownPrefix(storagetest.URI(t, "redis")) },
		"redis_cluster": func(t *testing.T) string {
			return ownPrefix(storagetest.URI(t, "redis_cluster"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := stack.Open(ctx, uri(t), stack.Options{Quota: storage.Quota{Secrets: 2, AuditBytes: auditQuota}, MasterKeys: [][]byte{bytes.Repeat([]byte{3}, seal.KeySize)}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			owner := storagetest.Unique("owner-")
			if err := s.Put(ctx, owner, []storage.Item{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}); err != nil {
				t.Fatal(err)
			}
			var qe *storage.QuotaError
			if err := s.Put(ctx, owner, []storage.Item{{Name: "c", Value: []byte("3")}}); !errors.As(err, &qe) || qe.Limit != storage.LimitSecrets {
				t.Fatalf("a third name: %v", err)
			}
			if _, err := s.Get(ctx, owner, "c"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the refused name was stored: %v", err)
			}
			u, err := s.Usage(ctx, owner)
			if err != nil || u.Secrets != 2 || u.Bytes <= 2 {
				t.Fatalf("Usage = %+v, %v; want 2 names of sealed (larger) values", u, err)
			}
			for i := range 100 {
				e := audit.Event{Action: audit.Read, Keys: []string{fmt.Sprintf("key-%03d", i)}, Time: time.Now()}
				if err := s.AppendAudit(ctx, owner, []audit.Event{e}); err != nil {
					t.Fatalf("append %d: %v", i, err)
				}
			}
			if u, err := s.Usage(ctx, owner); err != nil || u.AuditBytes == 0 || u.AuditBytes > auditQuota {
				t.Fatalf("after 100 events: Usage = %+v, %v; want audit bytes within AUDIT_QUOTA %d", u, err, auditQuota)
			}
		})
	}
}

// TestOpenSaysMongoDBTransactions: opening MongoDB logs which write path
// it takes; FerretDB, CI's MongoDB, has no transactions.
func TestOpenSaysMongoDBTransactions(t *testing.T) {
	var log bytes.Buffer
	st, err := stack.Open(context.Background(), storagetest.MongoDB(t), stack.Options{
		MasterKeys: [][]byte{bytes.Repeat([]byte{7}, seal.KeySize)},
		Logger:     slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !strings.Contains(log.String(), "mongodb: this server has no transactions") &&
		!strings.Contains(log.String(), "mongodb: each write of several keys, with its audit event, is one transaction") {
		t.Fatalf("opening MongoDB logged no word of its write path:\n%s", log.String())
	}
}
