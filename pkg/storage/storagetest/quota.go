package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The quota RunQuota sets: small enough to reach in a few writes.
const (
	quotaSecrets = 5
	quotaBytes   = 100
	// quotaAuditBytes holds some 40 signed events of testAuditQuota.
	quotaAuditBytes = 16 << 10
)

// RunQuota runs the conformance cases of storage.Quotas (issue 8 item 5)
// against s, which must implement it and which the caller gives to this
// test alone: it calls SetQuota. Each case writes its own random owner.
func RunQuota(t *testing.T, s storage.Store) { RunQuotaEach(t, Shared(s)) }

// RunQuotaEach is RunQuota with the store of each case from open; each
// store is the case's alone only if open says so.
func RunQuotaEach(t *testing.T, open Opener[storage.Store]) {
	first := open(t)
	limits := storage.Quota{Secrets: quotaSecrets, Bytes: quotaBytes, AuditBytes: quotaAuditBytes}
	// Data written before there is a quota counts once there is one.
	q, cs := storage.Quotas(first), storage.Check(first)
	q.SetQuota(storage.Quota{})
	early := Unique("quota-")
	put(t, cs, early, "a", "1234567890", "b", "12345", "c", "", "d", "x", "e", "y")
	q.SetQuota(limits)
	t.Run("quota/Upgrade", func(t *testing.T) {
		wantUsage(t, q, early, 5, 17)
		wantRefused(t, cs.Put(ctxT(t), early, items("f", "1")), storage.LimitSecrets, 5, quotaSecrets)
		wantAbsent(t, cs, early, "f")
	})

	type quotaCase struct {
		name string
		fn   func(t *testing.T, s storage.Store, q storage.Quotas, owner string)
	}
	cases := []quotaCase{
		{"Secrets", checked(testQuotaSecrets)},
		{"Bytes", checked(testQuotaBytes)},
		{"WholeBatch", checked(testQuotaWholeBatch)},
		{"CleanUpWhenFull", checked(testQuotaCleanUp)},
		{"Swap", checked(testQuotaSwap)},
		{"Race", checked(testQuotaRace)},
	}
	// storeOf opens the store of a case, its quota set.
	storeOf := func(t *testing.T) (storage.Store, storage.Quotas) {
		s := open(t)
		s.SetQuota(limits)
		return s, s
	}
	cases = append(cases,
		quotaCase{"Versions", testQuotaVersions},
		quotaCase{"Keep", testQuotaKeep},
		quotaCase{"SoftDeleted", testQuotaSoftDeleted},
		quotaCase{"CommitRefused", testQuotaCommitRefused},
		quotaCase{"CommitRace", testQuotaCommitRace},
		quotaCase{"Audit", testAuditQuota},
		quotaCase{"Import", testQuotaImport},
	)
	t.Run("quota", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				s, q := storeOf(t)
				c.fn(t, s, q, Unique("quota-"))
			})
		}
	})
	// Purging acts on every owner, so it runs alone.
	t.Run("quota/Purge", func(t *testing.T) {
		s, q := storeOf(t)
		testQuotaPurge(t, s, q, Unique("quota-"))
	})
}

// checked runs a case of RunQuota under a storage.Checked layer, as
// stack.Open stacks it.
func checked(fn func(t *testing.T, s storage.Store, q storage.Quotas, owner string)) func(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	return func(t *testing.T, s storage.Store, q storage.Quotas, owner string) { fn(t, storage.Check(s), q, owner) }
}

func items(kv ...string) []storage.Item {
	out := make([]storage.Item, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, storage.Item{Name: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

func wantUsage(t *testing.T, q storage.Quotas, owner string, secrets, bytes int64) {
	t.Helper()
	u, err := q.Usage(ctxT(t), owner)
	if err != nil {
		t.Fatalf("Usage(%q): %v", owner, err)
	}
	if u != (storage.Usage{Secrets: secrets, Bytes: bytes}) {
		t.Fatalf("Usage = %+v, want {Secrets:%d Bytes:%d}", u, secrets, bytes)
	}
}

func wantRefused(t *testing.T, err error, limit string, used, max int64) {
	t.Helper()
	var qe *storage.QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("a write past the %s limit: %v, want *storage.QuotaError", limit, err)
	}
	if *qe != (storage.QuotaError{Limit: limit, Used: used, Max: max}) {
		t.Fatalf("QuotaError %+v, want {%s %d %d}", *qe, limit, used, max)
	}
}

func testQuotaSecrets(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	wantUsage(t, q, owner, 0, 0)
	for i := range quotaSecrets {
		put(t, s, owner, fmt.Sprint("k", i), "v")
		wantUsage(t, q, owner, int64(i+1), int64(i+1))
	}
	wantRefused(t, s.Put(ctxT(t), owner, items("new", "v")), storage.LimitSecrets, quotaSecrets, quotaSecrets)
	wantAbsent(t, s, owner, "new")
	wantUsage(t, q, owner, quotaSecrets, quotaSecrets)
	// An overwrite no larger takes no new room.
	put(t, s, owner, "k0", "w")
	wantUsage(t, q, owner, quotaSecrets, quotaSecrets)
	if sec := mustGet(t, s, owner, "k0"); string(sec.Value) != "w" {
		t.Errorf("overwrite under a full quota: %q", sec.Value)
	}
}

func testQuotaBytes(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	put(t, s, owner, "a", strings.Repeat("a", 60), "b", strings.Repeat("b", 40))
	wantUsage(t, q, owner, 2, 100)
	wantRefused(t, s.Put(ctxT(t), owner, items("c", "1")), storage.LimitBytes, 100, quotaBytes)
	wantAbsent(t, s, owner, "c")
	wantRefused(t, s.Put(ctxT(t), owner, items("a", strings.Repeat("a", 61))), storage.LimitBytes, 100, quotaBytes)
	if sec := mustGet(t, s, owner, "a"); len(sec.Value) != 60 {
		t.Errorf("a refused overwrite changed the value: %d bytes", len(sec.Value))
	}
	wantUsage(t, q, owner, 2, 100)
	put(t, s, owner, "a", "small")
	wantUsage(t, q, owner, 2, 45)
	// A value that would pass the limit alone is refused too.
	wantRefused(t, s.Put(ctxT(t), owner, items("big", strings.Repeat("x", quotaBytes))), storage.LimitBytes, 45, quotaBytes)
	put(t, s, owner, "c", strings.Repeat("c", 55))
	wantUsage(t, q, owner, 3, 100)
}

func testQuotaWholeBatch(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	put(t, s, owner, "a", "1", "b", "2", "c", "3", "d", "4")
	err := s.Put(ctxT(t), owner, items("a", "changed", "e", "5", "f", "6"))
	wantRefused(t, err, storage.LimitSecrets, 4, quotaSecrets)
	wantAbsent(t, s, owner, "e")
	wantAbsent(t, s, owner, "f")
	if sec := mustGet(t, s, owner, "a"); string(sec.Value) != "1" {
		t.Errorf("a refused batch wrote a: %q", sec.Value)
	}
	wantUsage(t, q, owner, 4, 4)
	// Bytes: the batch as a whole passes the limit, each item alone would not.
	err = s.Put(ctxT(t), owner, items("a", strings.Repeat("a", 50), "b", strings.Repeat("b", 50)))
	wantRefused(t, err, storage.LimitBytes, 4, quotaBytes)
	wantUsage(t, q, owner, 4, 4)
	put(t, s, owner, "a", "one", "e", "5")
	wantUsage(t, q, owner, 5, 7)
}

func testQuotaCleanUp(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	put(t, s, owner, "a", strings.Repeat("a", 50), "b", strings.Repeat("b", 47), "c", "1", "d", "2", "e", "3")
	wantUsage(t, q, owner, 5, 100)
	if err := s.Delete(ctxT(t), owner, []string{"a", "absent"}); err != nil {
		t.Fatalf("Delete under a full quota: %v", err)
	}
	wantUsage(t, q, owner, 4, 50)
	put(t, s, owner, "f", strings.Repeat("f", 50))
	wantUsage(t, q, owner, 5, 100)
	if err := s.Delete(ctxT(t), owner, []string{"b", "c", "d", "e", "f"}); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, q, owner, 0, 0)
}

func testQuotaSwap(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	put(t, s, owner, "k", "0123456789")
	wantUsage(t, q, owner, 1, 10)
	if ok, err := s.Swap(ctxT(t), owner, "k", []byte("0123456789"), []byte("resealed: 0123456789")); err != nil || !ok {
		t.Fatalf("Swap = %v, %v", ok, err)
	}
	wantUsage(t, q, owner, 1, 20)
	if ok, err := s.Swap(ctxT(t), owner, "k", []byte("stale"), []byte("x")); err != nil || ok {
		t.Fatalf("Swap of a stale value = %v, %v", ok, err)
	}
	wantUsage(t, q, owner, 1, 20)
}

// testQuotaRace: writers of distinct new names racing for the last room;
// on a shared store they may be in different replicas.
func testQuotaRace(t *testing.T, s storage.Store, q storage.Quotas, owner string) {
	raceForRoom(t, s, q, owner, func(ctx context.Context, name string) error {
		return s.Put(ctx, owner, items(name, "v"))
	})
}

// raceForRoom runs 16 writers of distinct new names (k0, k1, …) at once
// with write, then checks that exactly as many got in as the quota has
// room for, and that the others were refused for it and wrote nothing.
func raceForRoom(t *testing.T, s storage.Store, q storage.Quotas, owner string, write func(ctx context.Context, name string) error) {
	t.Helper()
	const writers = 16
	errs := make([]error, writers)
	inParallel(writers, func(i int) { errs[i] = write(ctxT(t), fmt.Sprint("k", i)) })
	raceOutcome(t, s, q, owner, errs)
}

func raceOutcome(t *testing.T, s storage.Store, q storage.Quotas, owner string, errs []error) {
	t.Helper()
	won := 0
	for i, err := range errs {
		var qe *storage.QuotaError
		switch {
		case err == nil:
			won++
		case errors.As(err, &qe) && qe.Limit == storage.LimitSecrets:
			wantAbsent(t, s, owner, fmt.Sprint("k", i))
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if won != quotaSecrets {
		t.Errorf("%d of %d racing writers got in, want exactly %d", won, len(errs), quotaSecrets)
	}
	if got := list(t, s, owner, ""); len(got) != quotaSecrets {
		t.Errorf("%d names stored, want %d", len(got), quotaSecrets)
	}
	wantUsage(t, q, owner, quotaSecrets, quotaSecrets)
}

func testQuotaVersions(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	commit(t, s, owner, set("k", strings.Repeat("1", 30)))
	commit(t, s, owner, set("k", strings.Repeat("2", 30)))
	wantUsage(t, q, owner, 1, 60)
	commit(t, s, owner, set("k", strings.Repeat("3", 30)))
	wantUsage(t, q, owner, 1, 90)
	// Every kept version counts: a fourth would pass the limit.
	_, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Changes: []storage.Change{set("k", strings.Repeat("4", 30))}})
	wantRefused(t, err, storage.LimitBytes, 90, quotaBytes)
	if got := versionNumbers(t, s, owner, "k"); len(got) != 3 {
		t.Errorf("versions after a refused commit: %v", got)
	}
	// A value written by Put over the history is a version on top of it.
	put(t, s, owner, "k", "0123456789")
	wantUsage(t, q, owner, 1, 100)
	// A commit over it replaces it, as the history does.
	commit(t, s, owner, set("k", "abcdefghij"))
	wantUsage(t, q, owner, 1, 100)
}

func testQuotaKeep(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	keep := func(value string, n int) error {
		_, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Keep: n, Changes: []storage.Change{set("k", value)}})
		return err
	}
	for i := range 3 {
		if err := keep(strings.Repeat(fmt.Sprint(i), 30), 3); err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, q, owner, 1, 90)
	// The fourth pushes the first out: room for it after all.
	if err := keep(strings.Repeat("3", 30), 3); err != nil {
		t.Fatalf("a write that trimming makes fit: %v", err)
	}
	wantUsage(t, q, owner, 1, 90)
	// Keeping fewer frees what goes.
	if err := keep("x", 1); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, q, owner, 1, 1)
	if got := versionNumbers(t, s, owner, "k"); len(got) != 1 || got[0] != 5 {
		t.Errorf("versions kept: %v", got)
	}
}

func testQuotaSoftDeleted(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	commit(t, s, owner, set("a", "12345"), set("b", "1"), set("c", "1"), set("d", "1"), set("e", "1"))
	commit(t, s, owner, del("a"))
	// A tombstone takes no bytes, but the name keeps its room.
	wantUsage(t, q, owner, 5, 9)
	_, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Changes: []storage.Change{set("f", "1")}})
	wantRefused(t, err, storage.LimitSecrets, 5, quotaSecrets)
	// Deleting again under a full quota goes through.
	commit(t, s, owner, del("b"))
	wantUsage(t, q, owner, 5, 9)
	// Undeleting is a new version of a name already counted.
	commit(t, s, owner, set("a", "x"))
	wantUsage(t, q, owner, 5, 10)
	if err := s.Destroy(ctxT(t), owner, []string{"a", "b", "absent"}, nil); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, q, owner, 3, 3)
	commit(t, s, owner, set("f", "1"))
	wantUsage(t, q, owner, 4, 4)
}

func testQuotaCommitRefused(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	commit(t, s, owner, set("k", strings.Repeat("k", 99)))
	ev := audit.Event{Time: time.Now().UTC(), Action: audit.Write, Keys: []string{"k", "n"}, Actor: "writer"}
	_, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Changes: []storage.Change{set("k", "small"), set("n", "xx")}, Event: &ev})
	wantRefused(t, err, storage.LimitBytes, 99, quotaBytes)
	wantAbsent(t, s, owner, "n")
	if got := versionNumbers(t, s, owner, "k"); len(got) != 1 {
		t.Errorf("versions of k after a refused commit: %v", got)
	}
	if got := allEvents(t, s, owner, 10); len(got) != 0 {
		t.Errorf("a refused commit left %d audit events", len(got))
	}
	wantUsage(t, q, owner, 1, 99)
}

func testQuotaCommitRace(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	raceForRoom(t, s, q, owner, func(ctx context.Context, name string) error {
		_, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set(name, "v")}})
		return err
	})
}

func testQuotaPurge(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	commit(t, s, owner, set("k", "1111111111"), set("gone", "2222222222"))
	commit(t, s, owner, set("k", "333"), del("gone"))
	wantUsage(t, q, owner, 2, 23)
	last := getVersion(t, s, owner, "k", 0).CreatedAt
	waitNextMilli(last)
	cut := time.Now()
	waitNextMilli(cut)
	if err := s.PurgeHistory(ctxT(t), cut); err != nil {
		t.Fatal(err)
	}
	// k keeps its newest; gone, deleted before the cut, is gone.
	wantUsage(t, q, owner, 1, 3)
}

// testQuotaImport: a restore's imported versions count as written ones do,
// and a restore is never refused (it puts back what was kept).
func testQuotaImport(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	a := s
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	vs := []storage.Version{
		{Name: "a", Version: 1, Value: []byte(strings.Repeat("1", 20)), CreatedAt: at},
		{Name: "a", Version: 2, Value: []byte(strings.Repeat("2", 20)), CreatedAt: at.Add(time.Second)},
		{Name: "b", Version: 1, Value: []byte(strings.Repeat("3", 70)), CreatedAt: at},
		{Name: "b", Version: 2, Deleted: true, CreatedAt: at.Add(time.Second)},
	}
	if err := a.ImportVersions(ctxT(t), owner, vs); err != nil {
		t.Fatalf("ImportVersions: %v", err)
	}
	wantUsage(t, q, owner, 2, 110)
	// Over the bytes limit now: a new name is refused, deleting still works.
	wantRefused(t, s.Put(ctxT(t), owner, items("c", "x")), storage.LimitBytes, 110, quotaBytes)
	if err := s.Destroy(ctxT(t), owner, []string{"b"}, nil); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, q, owner, 1, 40)
}
