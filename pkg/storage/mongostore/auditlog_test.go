package mongostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func event(action audit.Action, keys ...string) audit.Event {
	return audit.Event{Time: time.Now(), Action: action, Keys: keys, Actor: "actor", IP: "127.0.0.1", Status: 200}
}

func auditBytes(t *testing.T, s *mongostore.Store, owner string) int64 {
	t.Helper()
	u, err := s.Usage(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return u.AuditBytes
}

func seqs(evs []audit.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// TestAuditUpgrade: a store written by the previous release (schema 1:
// events without keys, action or size, hints without byte counts, events
// about any number of names) answers the key and action filters and
// counts its owners' audit bytes once opened by this one, and only once.
func TestAuditUpgrade(t *testing.T) {
	uri := storagetest.MongoDB(t)
	old := openURI(t, uri, true)
	ctx := context.Background()
	owners := []string{storagetest.Unique("upg-a-"), storagetest.Unique("upg-b-")}
	logs := map[string][]audit.Event{}
	for n, owner := range owners {
		// Linked as the previous release did: every name kept.
		var head audit.Head
		for i := range 30 + 10*n {
			e := event(audit.Read, fmt.Sprintf("k%d", i%4))
			e.Time = time.Now().Add(time.Duration(i-60) * time.Second).Truncate(time.Millisecond).UTC()
			if i%10 == 9 {
				e.Action = audit.Delete
				for j := range 19 {
					e.Keys = append(e.Keys, fmt.Sprintf("many-%02d", j))
				}
				e.Keys = append(e.Keys, "wide") // the 21st name
			}
			e.Seq, e.PrevHash = head.Seq+1, head.Hash
			if head.Seq == 0 {
				e.PrevHash = audit.Genesis
			}
			e.Hash, _ = audit.ComputeHash(e)
			head = audit.Head{Seq: e.Seq, Hash: e.Hash}
			logs[owner] = append(logs[owner], e)
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mongostore.Events(old).InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%d:%s:%020d", len(owner), owner, e.Seq)},
				{Key: "owner", Value: owner}, {Key: "seq", Value: int64(e.Seq)}, {Key: "time", Value: e.Time}, {Key: "hash", Value: e.Hash}, {Key: "data", Value: data}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := mongostore.AuditHeads(old).UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(head.Seq)}, {Key: "hash", Value: head.Hash}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mongostore.Metas(old).UpdateOne(ctx, bson.D{{Key: "_id", Value: "storage.schema_version"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: []byte("1")}}}}); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // the second Open must not count again
		s := openURI(t, uri, true)
		if v, err := s.GetMeta(ctx, "storage.schema_version"); err != nil || string(v) != "2" {
			t.Fatalf("schema version after Open: %q, %v", v, err)
		}
		for _, owner := range owners {
			log := logs[owner]
			if got, want := auditBytes(t, s, owner), audittest.LogSize(log); got != want {
				t.Errorf("round %d: Usage.AuditBytes %d, the events take %d", round, got, want)
			}
			var k1, wide, deletes []uint64
			for i := len(log) - 1; i >= 0; i-- {
				if slices.Contains(log[i].Keys, "k1") {
					k1 = append(k1, log[i].Seq)
				}
				if log[i].Action == audit.Delete {
					wide = append(wide, log[i].Seq)
					deletes = append(deletes, log[i].Seq)
				}
			}
			for _, c := range []struct {
				q    storage.AuditQuery
				want []uint64
			}{
				{storage.AuditQuery{Limit: 100, Key: "k1"}, k1},
				{storage.AuditQuery{Limit: 100, Key: "wide"}, wide},
				{storage.AuditQuery{Limit: 100, Action: audit.Delete}, deletes},
				{storage.AuditQuery{Limit: 100, Key: "wide", Action: audit.Read}, []uint64{}},
			} {
				p, err := s.Audit(ctx, owner, c.q)
				if err != nil || !slices.Equal(seqs(p.Events), c.want) || p.Next != 0 {
					t.Errorf("round %d: Audit(%+v) = %v next %d, %v; want %v", round, c.q, seqs(p.Events), p.Next, err, c.want)
				}
			}
		}
	}
	// The upgraded log goes on as one chain, counted.
	s := openURI(t, uri, true)
	sctx, keys := audittest.SignedContext(t, "mongostore audit tests")
	owner := owners[0]
	if err := s.AppendAudit(sctx, owner, []audit.Event{event(audit.Read, "k1")}); err != nil {
		t.Fatal(err)
	}
	log := storagetest.ReadLog(t, s, owner)
	// The log from before signing is adopted first (audit.Continue).
	if rep, err := audit.VerifySigned(log, owner, keys); err != nil || len(log) != 32 || rep.Adopted != 31 {
		t.Fatalf("%d events after the upgrade and an append (adopted at %d): %v", len(log), rep.Adopted, err)
	}
	if got, want := auditBytes(t, s, owner), audittest.LogSize(log); got != want {
		t.Errorf("Usage.AuditBytes %d after an append, the events take %d", got, want)
	}
}

// TestAuditFilterBounded: over 20,000 events, a key that matches nothing
// is answered in one call of one command, with Next 0; a filter the index
// does not answer alone reads AuditScanMax candidates at most, in a
// bounded number of replies, and says where to go on.
func TestAuditFilterBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 events")
	}
	tl := mongostore.NewTally()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := tl.Open(ctx, storagetest.MongoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	owner := storagetest.Unique("scan-")
	const n = 20_000
	start := time.Now()
	for i := 0; i < n; i += 1000 {
		batch := make([]audit.Event, 1000)
		for j := range batch {
			batch[j] = event(audit.Read, "every", fmt.Sprintf("k%d", (i+j)%7))
		}
		if err := s.AppendAudit(ctx, owner, batch); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d events appended in %s", n, time.Since(start).Round(time.Millisecond))

	audits := func(snap map[string]int) (finds, more int) {
		for k, c := range snap {
			if strings.HasPrefix(k, "find audit ") {
				finds += c
			}
			if strings.HasPrefix(k, "getMore") {
				more += c
			}
		}
		return
	}
	for _, c := range []struct {
		name        string
		q           storage.AuditQuery
		events      int
		next        uint64
		finds, more int // at most
	}{
		{"a key that matches nothing", storage.AuditQuery{Limit: 1, Key: "does-not-exist"}, 0, 0, 1, 0},
		{"an action that matches nothing", storage.AuditQuery{Limit: 1000, Action: audit.Login}, 0, 0, 1, 0},
		{"a key, from the middle", storage.AuditQuery{Limit: 10, Key: "k3", Before: 10_000}, 10, 9_930, 1, 0},
		// Every event has the key, none the action: AuditScanMax
		// candidates, 256 a reply, and Next where they end.
		{"a key with an action that matches nothing", storage.AuditQuery{Limit: 10, Key: "every", Action: audit.Login}, 0, n - storage.AuditScanMax + 1, 1, storage.AuditScanMax / 256},
		{"unfiltered", storage.AuditQuery{Limit: 100}, 100, n - 99, 1, 0},
		{"since a time after every event", storage.AuditQuery{Limit: 10, Since: time.Now().Add(time.Hour)}, 0, 0, 1, 0},
		{"until a time before every event", storage.AuditQuery{Limit: 10, Until: start.Add(-time.Hour)}, 0, 0, 1, 0},
	} {
		tl.Reset()
		t0 := time.Now()
		p, err := s.Audit(ctx, owner, c.q)
		took := time.Since(t0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		finds, more := audits(tl.Snapshot())
		if len(p.Events) != c.events || p.Next != c.next || finds > c.finds || more > c.more {
			t.Errorf("%s: %d events, next %d, %d finds and %d getMores; want %d, %d, at most %d and %d (%s)",
				c.name, len(p.Events), p.Next, finds, more, c.events, c.next, c.finds, c.more, describe(tl.Snapshot()))
		} else {
			t.Logf("%-45s %3d events, next %5d, %s in %s", c.name, len(p.Events), p.Next, describe(tl.Snapshot()), took.Round(time.Millisecond))
		}
		for _, e := range p.Events {
			if !storage.MatchAudit(c.q, e) {
				t.Errorf("%s: event %d does not match", c.name, e.Seq)
			}
		}
	}
	// Where the server says what it examined (MongoDB; FerretDB v1 does
	// not), the key filter reads its index only.
	var ex bson.M
	err = mongostore.Database(s).RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "audit"},
		{Key: "filter", Value: bson.D{{Key: "owner", Value: owner}, {Key: "keys", Value: "does-not-exist"}}},
		{Key: "sort", Value: bson.D{{Key: "seq", Value: -1}}}, {Key: "hint", Value: "owner_keys_seq"}, {Key: "limit", Value: 1}}},
		{Key: "verbosity", Value: "executionStats"}}).Decode(&ex)
	if stats, ok := ex["executionStats"].(bson.M); err == nil && ok {
		if docs := fmt.Sprint(stats["totalDocsExamined"]); docs != "0" {
			t.Errorf("a key that matches nothing examined %s documents", docs)
		}
	} else {
		t.Logf("the server reports no execution statistics (%v)", err)
	}
}

// errCrash is what the crash hook panics with.
var errCrash = errors.New("crash")

// crashAt runs fn with s stopping, as a crash would, at step: it panics
// there, and nothing after runs. It fails t if fn did not reach step.
func crashAt(t *testing.T, s *mongostore.Store, step string, fn func() error) {
	t.Helper()
	mongostore.SetCrash(s, func(at string) {
		if at == step {
			mongostore.SetCrash(s, nil)
			panic(errCrash)
		}
	})
	defer mongostore.SetCrash(s, nil)
	crashed := func() (crashed bool) {
		defer func() {
			if r := recover(); r != nil {
				if r != errCrash {
					panic(r)
				}
				crashed = true
			}
		}()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return false
	}()
	if !crashed {
		t.Fatalf("never reached %q", step)
	}
}

// checkLog fails t unless owner's log verifies (signed, when signed) and
// its count is at least what its events take.
func checkLog(t *testing.T, s *mongostore.Store, owner string, keys audit.Keys, signed bool) []audit.Event {
	t.Helper()
	log := storagetest.ReadLog(t, s, owner)
	if _, err := audit.Verify(log); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if signed {
		if _, err := audit.VerifySigned(log, owner, keys); err != nil {
			t.Fatalf("VerifySigned: %v", err)
		}
	}
	if got, want := auditBytes(t, s, owner), audittest.LogSize(log); got < want {
		t.Fatalf("Usage.AuditBytes %d, below the %d the events take", got, want)
	}
	return log
}

// TestAuditCrash: an append with a quota trim, or a retention trim, that
// stops between any two of its steps leaves a log that verifies, signed
// when its events are in, and a count too high, never too low; the next
// append goes on from it, and Recount makes the count exact.
func TestAuditCrash(t *testing.T) {
	const quota = 8 << 10
	for _, step := range []string{"reserved", "inserted", "hinted", "removed"} {
		t.Run("quota/"+step, func(t *testing.T) {
			s := openAs(t, true)
			s.SetQuota(storage.Quota{AuditBytes: quota})
			ctx, keys := audittest.SignedContext(t, "mongostore audit tests")
			owner := storagetest.Unique("crash-")
			for i := range 30 {
				if err := s.AppendAudit(ctx, owner, []audit.Event{event(audit.Read, fmt.Sprintf("fill-%d", i))}); err != nil {
					t.Fatal(err)
				}
			}
			before := checkLog(t, s, owner, keys, true)
			// Ten events more take the log past the quota: this append trims.
			batch := make([]audit.Event, 10)
			for i := range batch {
				batch[i] = event(audit.Write, fmt.Sprintf("crash-%d", i))
			}
			crashAt(t, s, step, func() error { return s.AppendAudit(ctx, owner, batch) })
			log := checkLog(t, s, owner, keys, step != "reserved")
			if step != "reserved" {
				newest := log[len(log)-1]
				if newest.Action != audit.Trim || newest.Trimmed.Reason != audit.TrimQuota || log[len(log)-2].Keys[0] != "crash-9" {
					t.Fatalf("newest events after the crash:%v", seqs(log[len(log)-3:]))
				}
			} else if len(log) != len(before) {
				t.Fatalf("a crash before the insert changed the log: %d events, was %d", len(log), len(before))
			}
			// The next appends go on from it, and trim what the crash left.
			for i := range 20 {
				if err := s.AppendAudit(ctx, owner, []audit.Event{event(audit.Read, fmt.Sprintf("after-%d", i))}); err != nil {
					t.Fatal(err)
				}
			}
			log = checkLog(t, s, owner, keys, true)
			if sum := audittest.LogSize(log); sum > quota {
				t.Errorf("the log takes %d bytes, past the quota %d", sum, quota)
			}
			if err := s.Recount(ctx, owner); err != nil {
				t.Fatal(err)
			}
			if got, want := auditBytes(t, s, owner), audittest.LogSize(log); got != want {
				t.Errorf("recounted %d, the events take %d", got, want)
			}
		})
	}
	for _, step := range []string{"trim appended", "removed"} {
		t.Run("retention/"+step, func(t *testing.T) {
			s := openAs(t, true)
			ctx, keys := audittest.SignedContext(t, "mongostore audit tests")
			owner := storagetest.Unique("crash-")
			for i := range 5 {
				if err := s.AppendAudit(ctx, owner, []audit.Event{event(audit.Read, fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			waitMilli()
			cut := time.Now()
			waitMilli()
			if err := s.AppendAudit(ctx, owner, []audit.Event{event(audit.Read, "kept")}); err != nil {
				t.Fatal(err)
			}
			crashAt(t, s, step, func() error { return s.TrimAudit(ctx, cut) })
			checkLog(t, s, owner, keys, true)
			// Trimming again finishes the job, without a second trim event.
			if err := s.TrimAudit(ctx, cut); err != nil {
				t.Fatal(err)
			}
			log := checkLog(t, s, owner, keys, true)
			if got := seqs(log); !slices.Equal(got, []uint64{6, 7}) || log[1].Action != audit.Trim {
				t.Fatalf("log after the trim: %v", got)
			}
			if step == "trim appended" {
				// Nothing was subtracted before the crash: the count is exact.
				if got, want := auditBytes(t, s, owner), audittest.LogSize(log); got != want {
					t.Errorf("Usage.AuditBytes %d, the events take %d", got, want)
				}
			}
		})
	}
}

func waitMilli() {
	t := time.Now()
	for time.Now().Truncate(time.Millisecond).Equal(t.Truncate(time.Millisecond)) {
		time.Sleep(100 * time.Microsecond)
	}
}

// TestAuditQuotaRace: appenders on four clients (four replicas, each its
// own lock) share one owner's log under a small quota, so that their
// appends trim it again and again, while a reader reads its newest page.
// Every page the reader sees is one chain, and afterwards the whole log
// verifies, signed, within the quota, counted exactly but for appends
// that went again (and never too low).
func TestAuditQuotaRace(t *testing.T) {
	const quota, clients, each = 6 << 10, 4, 15
	uri := storagetest.MongoDB(t)
	owner := storagetest.Unique("race-")
	ctx, keys := audittest.SignedContext(t, "mongostore audit tests")
	stores := make([]*mongostore.Store, clients)
	var mu sync.Mutex
	stale := 0 // appends that went in below a racing trim's point
	for i := range stores {
		stores[i] = openURI(t, uri, true)
		stores[i].SetQuota(storage.Quota{AuditBytes: quota})
		mongostore.SetCrash(stores[i], func(step string) {
			if step == "stale" {
				mu.Lock()
				stale++
				mu.Unlock()
			}
		})
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for c, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				evs := []audit.Event{event(audit.Read, fmt.Sprintf("c%d-%d", c, i))}
				if i%3 == 0 {
					evs = append(evs, event(audit.Write, "x"), event(audit.Write, "y"))
				}
				if err := s.AppendAudit(ctx, owner, evs); err != nil {
					t.Errorf("client %d: %v", c, err)
					return
				}
			}
		}()
	}
	pages := 0
	var rg sync.WaitGroup
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			p, err := stores[0].Audit(ctx, owner, storage.AuditQuery{Limit: 30})
			if err != nil {
				t.Error(err)
				return
			}
			for i := 1; i < len(p.Events); i++ {
				if e, older := p.Events[i-1], p.Events[i]; e.Seq != older.Seq+1 || e.PrevHash != older.Hash {
					t.Errorf("a page breaks between seq %d and %d", older.Seq, e.Seq)
					return
				}
			}
			pages++
		}
	}()
	wg.Wait()
	close(done)
	rg.Wait()
	log := checkLog(t, stores[0], owner, keys, true)
	if log[0].Seq == 1 {
		t.Fatal("nothing was trimmed")
	}
	if sum := audittest.LogSize(log); sum > quota {
		t.Errorf("the log takes %d bytes, past the quota %d", sum, quota)
	}
	// Racing trims share out what they subtract, so the count is exact,
	// but for an append that went in below a racing trim's point and went
	// again: it stays counted (too high by that append's bytes, at most
	// three events and a trim, never too low).
	if got, want := auditBytes(t, stores[0], owner), audittest.LogSize(log); got-want > int64(stale)*2500 {
		t.Errorf("Usage.AuditBytes %d, the events take %d (%d appends went again)", got, want, stale)
	}
	t.Logf("%d events kept of %d, %d bytes counted for %d stored; %d appends went again; %d pages read", len(log), log[len(log)-1].Seq,
		auditBytes(t, stores[0], owner), audittest.LogSize(log), stale, pages)
}
