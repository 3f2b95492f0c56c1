package mongostore_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestRoundTrips counts the commands each request-path call sends, and
// those whose filter is more than an _id (on FerretDB v1 each of those
// decodes the collection until it matches; on MongoDB an index answers
// it). A write of one name with its audit event is six round trips, one
// of them such a filter: the head's conditional update, which is what
// makes racing writers take turns.
func TestRoundTrips(t *testing.T) {
	tl := mongostore.NewTally()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := tl.Open(ctx, storagetest.MongoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mongostore.Database(s).Drop(context.Background()); s.Close() })
	const owner = "owner"
	by := storage.Writer{Address: "w"}
	ev := func() *audit.Event {
		return &audit.Event{Time: time.Now(), Action: audit.Write, Keys: []string{"k"}, Actor: "a", IP: "127.0.0.1", Status: 200}
	}
	write := func(cas int64, ev *audit.Event) func() error {
		return func() error {
			_, err := s.Commit(ctx, storage.Commit{Owner: owner, By: by, Keep: 20, Event: ev,
				Changes: []storage.Change{{Name: "k", Value: []byte("v"), CAS: cas}}})
			return err
		}
	}
	// The first Incr starts the lazy purge of expired nonces and counters
	// (two deletes, in the background, at most every few minutes): let it
	// pass before counting.
	tl.Reset()
	if _, err := s.Incr(ctx, "warm", 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); tl.Snapshot()["delete counters scan"] == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the purge did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		name          string
		fn            func() error
		trips, filter int // at most
	}{
		// A new name is numbered after what a crash may have left of an
		// earlier one: a sorted read of its version documents.
		{"Commit of a new name, with its event", write(0, ev()), 6, 1},
		{"Commit over it, with its event", write(1, ev()), 6, 1},
		{"Commit without an event", write(2, nil), 3, 1},
		{"Commit of a tombstone", func() error {
			_, err := s.Commit(ctx, storage.Commit{Owner: owner, By: by, Keep: 20, Event: ev(), Changes: []storage.Change{{Name: "k", Delete: true, CAS: storage.NoCAS}}})
			return err
		}, 6, 1},
		{"Commit over the tombstone", write(0, ev()), 6, 1},
		{"Put over a name", func() error { return s.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte("p")}}) }, 3, 0},
		{"Put of a new name", func() error { return s.Put(ctx, owner, []storage.Item{{Name: "n", Value: []byte("p")}}) }, 2, 0},
		{"Get", func() error { _, err := s.Get(ctx, owner, "k"); return err }, 1, 0},
		{"GetVersion", func() error { _, err := s.GetVersion(ctx, owner, "k", 1); return err }, 2, 0},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, owner, []audit.Event{*ev()}) }, 3, 0},
		// The trim point, by _id; then the (owner, keys, seq) index
		// answers (FerretDB v1 scans).
		{"Audit by a key that matches nothing", func() error {
			_, err := s.Audit(ctx, owner, storage.AuditQuery{Limit: 10, Key: "absent"})
			return err
		}, 2, 1},
		{"Incr", func() error { _, err := s.Incr(ctx, "ctr", 1, time.Now().Add(time.Hour)); return err }, 1, 0},
		// Past Keep, without a quota, the versions trimmed (all but the newest of k) are not read
		// (nothing counts them): one delete more.
		{"Commit past Keep, without an event", func() error {
			_, err := s.Commit(ctx, storage.Commit{Owner: owner, By: by, Keep: 1,
				Changes: []storage.Change{{Name: "k", Value: []byte("v"), CAS: storage.NoCAS}}})
			return err
		}, 3, 2},
	} {
		tl.Reset()
		if err := c.fn(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := tl.Snapshot()
		trips, filter := 0, 0
		for k, n := range got {
			trips += n
			if strings.Contains(k, " scan") {
				filter += n
			}
		}
		if trips > c.trips || filter > c.filter {
			t.Errorf("%s: %d round trips, %d filtered on more than _id; want at most %d and %d: %s", c.name, trips, filter, c.trips, c.filter, describe(got))
		} else {
			t.Logf("%-40s %s", c.name, describe(got))
		}
	}
}

func describe(m map[string]int) string {
	var ks []string
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
