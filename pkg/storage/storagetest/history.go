package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// RunHistory runs the conformance cases of storage.History and
// storage.AuditLog (issue 11) against s, in parallel, each in its own
// random owner. Backends that keep history call it beside Run.
func RunHistory(t *testing.T, s storage.HistoryStore) { RunHistoryEach(t, Shared(s)) }

// RunHistoryEach is RunHistory with the store of each case from open.
func RunHistoryEach(t *testing.T, open Opener[storage.HistoryStore]) {
	cases := []testCase[storage.HistoryStore]{
		{"Versions", testVersions},
		{"Tombstone", testTombstone},
		{"CAS", testCAS},
		{"CASRace", testCASRace},
		{"Destroy", testDestroy},
		{"Keep", testKeep},
		{"AsOf", testAsOf},
		{"PutOutsideHistory", testPutOutsideHistory},
		{"AuditChain", testAuditChain},
		{"AuditWithCommit", testAuditWithCommit},
		{"HistoryOwnerIsolation", testHistoryOwnerIsolation},
		{"AuditSigned", testAuditSigned},
		{"AuditBounded", testAuditBounded},
		{"AuditQuery", testAuditQuery},
		{"AuditScanBound", testAuditScanBound},
	}
	runParallel(t, "history", "hist-", cases, open)
	// Purging and trimming act on every owner, so they run alone.
	t.Run("history/Purge", func(t *testing.T) { testPurge(t, open(t), Unique("hist-")) })
	t.Run("history/PurgeKeepsLive", func(t *testing.T) { testPurgeKeepsLive(t, open(t), Unique("hist-")) })
	t.Run("history/AuditTrim", func(t *testing.T) { testAuditTrim(t, open(t), Unique("hist-")) })
}

var by = storage.Writer{Address: "writer", Job: "job"}

func commit(t *testing.T, s storage.History, owner string, changes ...storage.Change) []int64 {
	t.Helper()
	vs, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, By: by, Changes: changes})
	if err != nil {
		t.Fatalf("Commit(%q, %+v): %v", owner, changes, err)
	}
	if len(vs) != len(changes) {
		t.Fatalf("Commit returned %d versions for %d changes", len(vs), len(changes))
	}
	return vs
}

func set(name, value string) storage.Change {
	return storage.Change{Name: name, Value: []byte(value), CAS: storage.NoCAS}
}

func del(name string) storage.Change {
	return storage.Change{Name: name, Delete: true, CAS: storage.NoCAS}
}

func getVersion(t *testing.T, s storage.History, owner, name string, v int64) storage.Version {
	t.Helper()
	got, err := s.GetVersion(ctxT(t), owner, name, v)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q, %d): %v", owner, name, v, err)
	}
	return got
}

func versionNumbers(t *testing.T, s storage.History, owner, name string) []int64 {
	t.Helper()
	vs, err := s.Versions(ctxT(t), owner, name)
	if err != nil {
		t.Fatalf("Versions(%q, %q): %v", owner, name, err)
	}
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.Version
		if v.Value != nil {
			t.Errorf("Versions(%q) returned a value", name)
		}
	}
	return out
}

// waitNextMilli returns once the clock has passed t's millisecond, so the
// next write is strictly later than t on every backend's precision.
func waitNextMilli(t time.Time) {
	for !time.Now().Truncate(time.Millisecond).After(t.Truncate(time.Millisecond)) {
		time.Sleep(100 * time.Microsecond)
	}
}

// testVersions: each Commit writes the next version; every version stays
// readable; Secrets reads the newest with the same version number.
func testVersions(t *testing.T, s storage.HistoryStore, owner string) {
	if got := commit(t, s, owner, set("k", "one"), set("other", "x")); !slices.Equal(got, []int64{1, 1}) {
		t.Fatalf("first versions %v", got)
	}
	commit(t, s, owner, set("k", "two"))
	if got := commit(t, s, owner, set("k", "")); got[0] != 3 {
		t.Fatalf("third version %v", got)
	}
	for v, want := range map[int64]string{1: "one", 2: "two", 3: "", 0: ""} {
		got := getVersion(t, s, owner, "k", v)
		if string(got.Value) != want || got.Value == nil || got.Deleted || got.By != by {
			t.Errorf("version %d = %+v, want %q", v, got, want)
		}
	}
	if got := versionNumbers(t, s, owner, "k"); !slices.Equal(got, []int64{3, 2, 1}) {
		t.Errorf("versions %v, want newest first", got)
	}
	sec := mustGet(t, s, owner, "k")
	if string(sec.Value) != "" || sec.Version != 3 {
		t.Errorf("Secrets sees %q v%d", sec.Value, sec.Version)
	}
	if _, err := s.GetVersion(ctxT(t), owner, "k", 4); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a version not written: %v", err)
	}
	if _, err := s.GetVersion(ctxT(t), owner, "never", 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a name never written: %v", err)
	}
	if _, err := s.Versions(ctxT(t), owner, "never"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Versions of a name never written: %v", err)
	}
}

// testTombstone: a delete is a version; the secret is gone for Secrets,
// deleted for GetVersion, its old versions readable, and a later write
// continues the numbering.
func testTombstone(t *testing.T, s storage.HistoryStore, owner string) {
	commit(t, s, owner, set("k", "one"), set("keep", "x"))
	if got := commit(t, s, owner, del("k"), del("absent")); !slices.Equal(got, []int64{2, 0}) {
		t.Fatalf("delete versions %v, want [2 0]", got)
	}
	wantAbsent(t, s, owner, "k")
	wantList(t, s, owner, "", "keep")
	if _, err := s.GetVersion(ctxT(t), owner, "k", 0); !errors.Is(err, storage.ErrDeleted) {
		t.Errorf("newest of a deleted name: %v, want ErrDeleted", err)
	}
	if got := getVersion(t, s, owner, "k", 2); !got.Deleted || got.Value != nil {
		t.Errorf("the tombstone: %+v", got)
	}
	if got := getVersion(t, s, owner, "k", 1); string(got.Value) != "one" {
		t.Errorf("the version before the delete: %+v", got)
	}
	if got := commit(t, s, owner, del("k")); got[0] != 0 {
		t.Errorf("deleting again wrote version %d", got[0])
	}
	if got := commit(t, s, owner, set("k", "again")); got[0] != 3 {
		t.Errorf("write after delete is version %d, want 3", got[0])
	}
	vs, _ := s.Versions(ctxT(t), owner, "k")
	if len(vs) != 3 || vs[1].Version != 2 || !vs[1].Deleted || vs[0].Deleted {
		t.Errorf("versions after undelete: %+v", vs)
	}
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "again" || sec.Version != 3 {
		t.Errorf("Secrets sees %q v%d", sec.Value, sec.Version)
	}
}

// testCAS: 0 means absent (or deleted); N means the newest live version is
// N; a failed CAS writes nothing of its commit.
func testCAS(t *testing.T, s storage.HistoryStore, owner string) {
	ctx := ctxT(t)
	cas := func(name, value string, cas int64) storage.Change {
		return storage.Change{Name: name, Value: []byte(value), CAS: cas}
	}
	commit(t, s, owner, cas("k", "one", 0))
	_, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{cas("k", "x", 0)}})
	var ce *storage.ConflictError
	if !errors.As(err, &ce) || ce.Current != 1 || ce.Name != "k" {
		t.Fatalf("cas 0 on an existing name: %v", err)
	}
	commit(t, s, owner, cas("k", "two", 1))
	_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("fresh", "f"), cas("k", "x", 1)}})
	if !errors.As(err, &ce) || ce.Current != 2 {
		t.Fatalf("stale cas: %v", err)
	}
	wantAbsent(t, s, owner, "fresh")
	if got := getVersion(t, s, owner, "k", 0); string(got.Value) != "two" {
		t.Errorf("after a failed cas: %q", got.Value)
	}
	commit(t, s, owner, del("k"))
	commit(t, s, owner, cas("k", "three", 0)) // deleted counts as absent
	if got := getVersion(t, s, owner, "k", 0); got.Version != 4 || string(got.Value) != "three" {
		t.Errorf("cas 0 after delete: %+v", got)
	}
	_, err = s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k", Delete: true, CAS: 3}}})
	if !errors.As(err, &ce) || ce.Current != 4 {
		t.Errorf("delete with a stale cas: %v", err)
	}
}

// testCASRace: writers racing with the same CAS, on an existing name and
// on a new one: exactly one of them wins each round.
func testCASRace(t *testing.T, s storage.HistoryStore, owner string) {
	const writers, rounds = 6, 5
	ctx := ctxT(t)
	for round := range rounds {
		name := fmt.Sprintf("k%d", round%2) // k0 is created in round 0, k1 in round 1
		base, err := s.GetVersion(ctx, owner, name, 0)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		var mu sync.Mutex
		wins, conflicts := 0, 0
		inParallel(writers, func(g int) {
			_, err := s.Commit(ctx, storage.Commit{Owner: owner, By: by, Changes: []storage.Change{
				{Name: name, Value: fmt.Appendf(nil, "r%d-w%d", round, g), CAS: base.Version}}})
			var ce *storage.ConflictError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce):
				conflicts++
			default:
				t.Errorf("round %d writer %d: %v", round, g, err)
			}
		})
		if wins != 1 || conflicts != writers-1 {
			t.Fatalf("round %d (cas %d): %d wins, %d conflicts; want exactly one win", round, base.Version, wins, conflicts)
		}
		if got := getVersion(t, s, owner, name, 0); got.Version != base.Version+1 {
			t.Fatalf("round %d: version %d after one win over %d", round, got.Version, base.Version)
		}
	}
}

func testDestroy(t *testing.T, s storage.HistoryStore, owner string) {
	commit(t, s, owner, set("k", "one"), set("other", "o"))
	commit(t, s, owner, set("k", "two"))
	commit(t, s, owner, del("other"))
	if err := s.Destroy(ctxT(t), owner, []string{"k", "other", "absent"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"k", "other"} {
		wantAbsent(t, s, owner, n)
		if _, err := s.GetVersion(ctxT(t), owner, n, 1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s v1 after destroy: %v", n, err)
		}
		if _, err := s.Versions(ctxT(t), owner, n); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s versions after destroy: %v", n, err)
		}
	}
	if got := commit(t, s, owner, set("k", "new")); got[0] != 1 {
		t.Errorf("a destroyed name starts again at version %d", got[0])
	}
}

func testKeep(t *testing.T, s storage.HistoryStore, owner string) {
	for i := range 5 {
		if _, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Keep: 3,
			Changes: []storage.Change{set("k", fmt.Sprint(i+1))}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := versionNumbers(t, s, owner, "k"); !slices.Equal(got, []int64{5, 4, 3}) {
		t.Errorf("kept versions %v, want [5 4 3]", got)
	}
	if _, err := s.GetVersion(ctxT(t), owner, "k", 2); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a version past Keep: %v", err)
	}
}

func asOf(t *testing.T, s storage.History, owner, prefix string, at time.Time) map[string]string {
	t.Helper()
	vs, err := s.AsOf(ctxT(t), owner, prefix, at)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(vs, func(a, b storage.Version) int { return cmpString(a.Name, b.Name) }) {
		t.Errorf("AsOf not sorted: %+v", vs)
	}
	out := map[string]string{}
	for _, v := range vs {
		out[v.Name] = string(v.Value)
		if v.Deleted {
			out[v.Name] = "<deleted>"
		}
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testAsOf: the namespace as it was at a time, tombstones included, by
// prefix.
func testAsOf(t *testing.T, s storage.HistoryStore, owner string) {
	commit(t, s, owner, set("a/1", "a1"), set("b", "b1"))
	t1 := getVersion(t, s, owner, "a/1", 0).CreatedAt
	waitNextMilli(t1)
	commit(t, s, owner, set("a/1", "a2"), set("a/2", "new"), del("b"))
	t2 := getVersion(t, s, owner, "a/1", 0).CreatedAt
	waitNextMilli(t2)
	commit(t, s, owner, set("b", "b3"))

	if got := asOf(t, s, owner, "", t1.Add(-time.Second)); len(got) != 0 {
		t.Errorf("before anything: %v", got)
	}
	want1 := map[string]string{"a/1": "a1", "b": "b1"}
	if got := asOf(t, s, owner, "", t1); !mapsEqual(got, want1) {
		t.Errorf("as of the first commit: %v, want %v", got, want1)
	}
	want2 := map[string]string{"a/1": "a2", "a/2": "new", "b": "<deleted>"}
	if got := asOf(t, s, owner, "", t2); !mapsEqual(got, want2) {
		t.Errorf("as of the second commit: %v, want %v", got, want2)
	}
	if got := asOf(t, s, owner, "a/", t1); !mapsEqual(got, map[string]string{"a/1": "a1"}) {
		t.Errorf("prefix a/ as of the first commit: %v", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// testPurge: old versions go, the newest of each name stays, and a name
// deleted long enough ago goes entirely.
func testPurge(t *testing.T, s storage.HistoryStore, owner string) {
	commit(t, s, owner, set("k", "1"), set("gone", "g"))
	commit(t, s, owner, set("k", "2"), del("gone"))
	last := getVersion(t, s, owner, "k", 0).CreatedAt
	waitNextMilli(last)
	cut := time.Now()
	waitNextMilli(cut)
	commit(t, s, owner, set("k", "3"), set("fresh", "f"))
	commit(t, s, owner, del("fresh"))
	if err := s.PurgeHistory(ctxT(t), cut); err != nil {
		t.Fatal(err)
	}
	if got := versionNumbers(t, s, owner, "k"); !slices.Equal(got, []int64{3}) {
		t.Errorf("k after purge: %v, want [3]", got)
	}
	if _, err := s.Versions(ctxT(t), owner, "gone"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a name deleted before the cut: %v", err)
	}
	if got := versionNumbers(t, s, owner, "fresh"); !slices.Equal(got, []int64{2, 1}) {
		t.Errorf("a name deleted after the cut: %v", got)
	}
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "3" {
		t.Errorf("current value after purge: %q", sec.Value)
	}
}

// testPutOutsideHistory: a secret written by Put (tools, imports) counts
// as its current version for history reads, CAS and numbering.
func testPutOutsideHistory(t *testing.T, s storage.HistoryStore, owner string) {
	put(t, s, owner, "k", "imported")
	put(t, s, owner, "k", "imported again")
	if got := getVersion(t, s, owner, "k", 0); string(got.Value) != "imported again" || got.Version != 2 {
		t.Errorf("newest of a Put secret: %+v", got)
	}
	if got := versionNumbers(t, s, owner, "k"); len(got) == 0 || got[0] != 2 {
		t.Errorf("versions of a Put secret: %v", got)
	}
	got, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k", Value: []byte("v3"), CAS: 2}}})
	if err != nil || got[0] != 3 {
		t.Fatalf("cas on a Put secret: %v %v", got, err)
	}
}

func ev(action audit.Action, keys ...string) audit.Event {
	return audit.Event{Time: time.Now(), Action: action, Keys: keys, Actor: "actor", IP: "127.0.0.1", Status: 200}
}

func allEvents(t *testing.T, s storage.AuditLog, owner string, page int) []audit.Event {
	t.Helper()
	var out []audit.Event
	q := storage.AuditQuery{Limit: page}
	for {
		p, err := s.Audit(ctxT(t), owner, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	slices.Reverse(out)
	return out
}

// testAuditChain: appends from concurrent writers form one chain, read
// back in pages, that verifies.
func testAuditChain(t *testing.T, s storage.HistoryStore, owner string) {
	const writers, each = 4, 10
	inParallel(writers, func(g int) {
		for i := range each {
			if err := s.AppendAudit(ctxT(t), owner, []audit.Event{ev(audit.Read, fmt.Sprintf("w%d", g), fmt.Sprint(i))}); err != nil {
				t.Error(err)
			}
		}
	})
	if err := s.AppendAudit(ctxT(t), owner, []audit.Event{ev(audit.List, "a", "b"), ev(audit.Login)}); err != nil {
		t.Fatal(err)
	}
	log := allEvents(t, s, owner, 7)
	if len(log) != writers*each+2 {
		t.Fatalf("%d events, want %d", len(log), writers*each+2)
	}
	head, err := audit.Verify(log)
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != uint64(len(log)) {
		t.Errorf("head %+v", head)
	}
	last := log[len(log)-1]
	if last.Action != audit.Login || len(last.Keys) != 0 || last.Keys == nil || last.Actor != "actor" || last.Status != 200 {
		t.Errorf("last event %+v", last)
	}
	if l := log[len(log)-2]; !slices.Equal(l.Keys, []string{"a", "b"}) {
		t.Errorf("keys kept in order: %+v", l.Keys)
	}
	if p, _ := s.Audit(ctxT(t), Unique("nobody-"), storage.AuditQuery{Limit: 10}); len(p.Events) != 0 || p.Next != 0 {
		t.Errorf("another owner's log: %+v", p)
	}
}

// testAuditWithCommit: a commit's event lands with it; a commit that fails
// its CAS leaves no event; Destroy records its event.
func testAuditWithCommit(t *testing.T, s storage.HistoryStore, owner string) {
	ctx := ctxT(t)
	w := ev(audit.Write, "k")
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("k", "v")}, Event: &w}); err != nil {
		t.Fatal(err)
	}
	bad := ev(audit.Write, "k")
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k", Value: []byte("x"), CAS: 0}}, Event: &bad}); err == nil {
		t.Fatal("cas 0 on an existing name succeeded")
	}
	d := ev(audit.Delete, "k")
	if err := s.Destroy(ctx, owner, []string{"k"}, &d); err != nil {
		t.Fatal(err)
	}
	log := allEvents(t, s, owner, 10)
	if len(log) != 2 || log[0].Action != audit.Write || log[1].Action != audit.Delete {
		t.Fatalf("log %+v", log)
	}
	if _, err := audit.Verify(log); err != nil {
		t.Fatal(err)
	}
}

// testAuditTrim: trimming keeps the newest event and a log that verifies
// from its new start, with the trim recorded.
func testAuditTrim(t *testing.T, s storage.HistoryStore, owner string) {
	ctx, keys := signed(t)
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev(audit.Read, "1"), ev(audit.Read, "2"), ev(audit.Read, "3")}); err != nil {
		t.Fatal(err)
	}
	third := allEvents(t, s, owner, 10)[2].Time
	waitNextMilli(third)
	cut := time.Now()
	waitNextMilli(cut)
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev(audit.Read, "4")}); err != nil {
		t.Fatal(err)
	}
	if err := s.TrimAudit(ctx, cut); err != nil {
		t.Fatal(err)
	}
	log := allEvents(t, s, owner, 10)
	if len(log) != 2 || log[0].Seq != 4 || log[1].Action != audit.Trim || log[1].Trimmed.FirstSeq != 4 {
		t.Fatalf("log after trim: %+v", log)
	}
	// The trim says why and when, and the server's signature vouches for it.
	if tr := log[1].Trimmed; tr.Reason != audit.TrimRetention || !tr.Before.Equal(cut.Truncate(time.Millisecond)) ||
		tr.Retention < 0 || tr.Before.After(log[1].Time.Add(-tr.Retention)) {
		t.Errorf("retention trim %+v at %s, cut %s", tr, log[1].Time, cut)
	}
	verifySigned(t, s, owner, keys)
	// Trimming again with nothing older than the cut changes nothing.
	if err := s.TrimAudit(ctx, cut); err != nil {
		t.Fatal(err)
	}
	if got := allEvents(t, s, owner, 10); len(got) != 2 {
		t.Errorf("second trim: %+v", got)
	}
}

func testHistoryOwnerIsolation(t *testing.T, s storage.HistoryStore, owner string) {
	other := owner + "-other"
	commit(t, s, owner, set("k", "mine"))
	commit(t, s, owner, del("k"))
	if _, err := s.GetVersion(ctxT(t), other, "k", 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another owner's version: %v", err)
	}
	if got := asOf(t, s, other, "", time.Now()); len(got) != 0 {
		t.Errorf("another owner's AsOf: %v", got)
	}
	if got := commit(t, s, other, set("k", "theirs")); got[0] != 1 {
		t.Errorf("numbering shared between owners: %v", got)
	}
}
