package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// RunHistoryAdmin runs the conformance cases of storage.HistoryAdmin (what
// rekey, backup and restore rely on) against s, in parallel, each in its
// own random owner.
func RunHistoryAdmin(t *testing.T, s storage.HistoryStore) { RunHistoryAdminEach(t, Shared(s)) }

// RunHistoryAdminEach is RunHistoryAdmin with the store of each case from
// open.
func RunHistoryAdminEach(t *testing.T, open Opener[storage.HistoryStore]) {
	cases := []testCase[storage.HistoryStore]{
		{"WalkVersions", asAdmin(testWalkVersions)},
		{"SwapVersion", asAdmin(testSwapVersion)},
		{"ImportVersions", asAdmin(testImportVersions)},
		{"ImportAudit", asAdmin(testImportAudit)},
		{"AuditContinue", asAdmin(testAuditContinue)},
	}
	runParallel(t, "historyadmin", "adm-", cases, open)
}

// asAdmin is a case of RunHistoryAdmin given the store it tests as its
// storage.HistoryAdmin too.
func asAdmin(fn func(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string)) func(t *testing.T, s storage.HistoryStore, owner string) {
	return func(t *testing.T, s storage.HistoryStore, owner string) { fn(t, s, s, owner) }
}

// walked is what WalkVersions visits of one owner, by name, in order.
func walked(t *testing.T, a storage.HistoryAdmin, owner string) map[string][]storage.Version {
	t.Helper()
	out := map[string][]storage.Version{}
	err := a.WalkVersions(ctxT(t), func(o string, v storage.Version) error {
		if o == owner {
			out[v.Name] = append(out[v.Name], v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WalkVersions: %v", err)
	}
	return out
}

func describeVersions(vs []storage.Version) string {
	s := ""
	for _, v := range vs {
		if v.Deleted {
			s += fmt.Sprintf(" %d:deleted", v.Version)
		} else {
			s += fmt.Sprintf(" %d:%q", v.Version, v.Value)
		}
	}
	return s
}

// testWalkVersions: every kept version of every name is visited once,
// ascending, with its value and writer; tombstones without a value; names
// whose newest version is a tombstone too; a secret Put wrote outside the
// history as its name's newest version, as Versions reports it.
func testWalkVersions(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string) {
	commit(t, s, owner, set("k", "a"))
	commit(t, s, owner, set("k", "b"), set("gone", "g"))
	commit(t, s, owner, del("gone"))
	commit(t, s, owner, set("k", ""))
	put(t, s, owner, "put", "p1")
	put(t, s, owner, "put", "p2")

	got := walked(t, a, owner)
	want := map[string]string{
		"k":    ` 1:"a" 2:"b" 3:""`,
		"gone": ` 1:"g" 2:deleted`,
	}
	for name, w := range want {
		if d := describeVersions(got[name]); d != w {
			t.Errorf("walk of %q:%s, want%s", name, d, w)
		}
	}
	for name, vs := range got {
		kept, err := s.Versions(ctxT(t), owner, name)
		if err != nil {
			t.Fatalf("Versions(%q): %v", name, err)
		}
		if len(kept) != len(vs) {
			t.Errorf("walk of %q visits %d versions, Versions lists %d", name, len(vs), len(kept))
			continue
		}
		for i, v := range vs {
			k := kept[len(kept)-1-i]
			if v.Version != k.Version || v.Deleted != k.Deleted || !v.CreatedAt.Equal(k.CreatedAt) || v.By != k.By {
				t.Errorf("walk of %q: %+v, Versions says %+v", name, v, k)
			}
			if v.Deleted && v.Value != nil || !v.Deleted && v.Value == nil {
				t.Errorf("walk of %q version %d: value %q deleted %v", name, v.Version, v.Value, v.Deleted)
			}
			if name != "put" && v.By != by {
				t.Errorf("walk of %q version %d: by %+v", name, v.Version, v.By)
			}
		}
	}
	if p := got["put"]; len(p) == 0 || string(p[len(p)-1].Value) != "p2" || p[len(p)-1].Version != 2 {
		t.Errorf("walk of a Put secret:%s, want its value p2 as version 2 last", describeVersions(p))
	}
	if len(got) != 3 {
		t.Errorf("walk visits names %v, want gone, k, put", slices.Sorted(func(yield func(string) bool) {
			for n := range got {
				if !yield(n) {
					return
				}
			}
		}))
	}

	// fn may write: a commit from inside the walk does not break it.
	err := a.WalkVersions(ctxT(t), func(o string, v storage.Version) error {
		if o == owner && v.Name == "k" && v.Version == 1 {
			_, err := s.Commit(ctxT(t), storage.Commit{Owner: owner, Changes: []storage.Change{set("during", "x")}})
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a walk whose fn writes: %v", err)
	}
	if _, err := s.Get(ctxT(t), owner, "during"); err != nil {
		t.Errorf("the write during the walk: %v", err)
	}
	stop := errors.New("stop")
	if err := a.WalkVersions(ctxT(t), func(string, storage.Version) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error is not returned: %v", err)
	}
}

// testSwapVersion: an old version is swapped alone; the newest takes the
// current value with it; a stale old value, a tombstone or a missing
// version swaps nothing.
func testSwapVersion(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string) {
	ctx := ctxT(t)
	commit(t, s, owner, set("k", "one"))
	commit(t, s, owner, set("k", "two"))
	swap := func(name string, v int64, old, new string) bool {
		t.Helper()
		ok, err := a.SwapVersion(ctx, owner, name, v, []byte(old), []byte(new))
		if err != nil {
			t.Fatalf("SwapVersion(%q, %d): %v", name, v, err)
		}
		return ok
	}
	if !swap("k", 1, "one", "ONE") {
		t.Fatal("swapping version 1 with its value did not swap")
	}
	if got := getVersion(t, s, owner, "k", 1); string(got.Value) != "ONE" || got.By != by {
		t.Errorf("version 1 after the swap: %+v", got)
	}
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "two" || sec.Version != 2 {
		t.Errorf("swapping an old version changed the current value: %q v%d", sec.Value, sec.Version)
	}
	if swap("k", 1, "one", "again") {
		t.Error("a swap from a value no longer stored swapped")
	}
	if !swap("k", 2, "two", "TWO") {
		t.Fatal("swapping the newest version did not swap")
	}
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "TWO" || sec.Version != 2 {
		t.Errorf("the current value after swapping the newest version: %q v%d", sec.Value, sec.Version)
	}
	if got := getVersion(t, s, owner, "k", 0); string(got.Value) != "TWO" {
		t.Errorf("the newest version after its swap: %+v", got)
	}
	if !swap("k", 2, "TWO", "TWO") {
		t.Error("a swap to the same value reports no match")
	}
	if swap("k", 3, "", "x") || swap("never", 1, "", "x") {
		t.Error("a swap of a version not kept swapped")
	}
	commit(t, s, owner, del("k"))
	if swap("k", 3, "", "x") {
		t.Error("a tombstone was swapped")
	}
	if got := getVersion(t, s, owner, "k", 3); !got.Deleted {
		t.Errorf("the tombstone after a swap: %+v", got)
	}
	put(t, s, owner, "put", "p")
	if !swap("put", 1, "p", "P") {
		t.Fatal("a secret Put outside the history did not swap")
	}
	if sec := mustGet(t, s, owner, "put"); string(sec.Value) != "P" {
		t.Errorf("the Put secret after its swap: %q", sec.Value)
	}
}

// importSet is a history as a restore brings it: numbers with gaps (older
// versions were trimmed), times in the past, several writers; sorted by
// name and number, as storage.Checked hands imports to backends.
func importSet() []storage.Version {
	t0 := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Millisecond)
	return []storage.Version{
		{Name: "x", Version: 3, Value: []byte("one"), CreatedAt: t0, By: storage.Writer{Address: "A"}},
		{Name: "x", Version: 5, Value: []byte("two"), CreatedAt: t0.Add(2 * time.Hour), By: storage.Writer{Address: "B", Job: "J"}},
		{Name: "y", Version: 1, Value: []byte(""), CreatedAt: t0.Add(time.Hour), By: storage.Writer{Address: "A"}},
		{Name: "y", Version: 2, Deleted: true, CreatedAt: t0.Add(3 * time.Hour), By: storage.Writer{Address: "A"}},
	}
}

// testImportVersions: imported versions keep their numbers, times and
// writers; the newest of each name is what Secrets reads (none after a
// tombstone); writes continue the numbering; a name already held fails
// the whole import.
func testImportVersions(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string) {
	ctx := ctxT(t)
	in := importSet()
	if err := a.ImportVersions(ctx, owner, in); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(ctx, owner, "x")
	if err != nil || len(vs) != 2 {
		t.Fatalf("Versions(x) = %+v, %v", vs, err)
	}
	for i, want := range []storage.Version{in[1], in[0]} { // newest first
		if vs[i].Version != want.Version || !vs[i].CreatedAt.Equal(want.CreatedAt) || vs[i].By != want.By || vs[i].Deleted {
			t.Errorf("version %d after import: %+v, want %+v", i, vs[i], want)
		}
	}
	if got := getVersion(t, s, owner, "x", 3); string(got.Value) != "one" {
		t.Errorf("version 3 of x: %+v", got)
	}
	sec := mustGet(t, s, owner, "x")
	if string(sec.Value) != "two" || sec.Version != 5 || !sec.UpdatedAt.Equal(in[1].CreatedAt) || !sec.CreatedAt.Equal(in[0].CreatedAt) {
		t.Errorf("Secrets reads x as %q v%d created %v updated %v", sec.Value, sec.Version, sec.CreatedAt, sec.UpdatedAt)
	}
	wantAbsent(t, s, owner, "y")
	if _, err := s.GetVersion(ctx, owner, "y", 0); !errors.Is(err, storage.ErrDeleted) {
		t.Errorf("newest of an imported tombstone: %v", err)
	}
	if got := getVersion(t, s, owner, "y", 1); got.Value == nil || len(got.Value) != 0 {
		t.Errorf("an imported empty value: %+v", got)
	}
	wantList(t, s, owner, "", "x")
	if got, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "x", Value: []byte("3"), CAS: 5}}}); err != nil || got[0] != 6 {
		t.Errorf("a write after the import: %v, %v; want version 6 with cas 5", got, err)
	}
	if got := commit(t, s, owner, set("y", "back")); got[0] != 3 {
		t.Errorf("undelete after the import wrote version %d, want 3", got[0])
	}

	// A name the owner holds already: nothing of the call is stored.
	err = a.ImportVersions(ctx, owner, []storage.Version{
		{Name: "a-new", Version: 1, Value: []byte("n"), CreatedAt: in[0].CreatedAt},
		{Name: "x", Version: 1, Value: []byte("old"), CreatedAt: in[0].CreatedAt},
	})
	if err == nil {
		t.Error("importing over a held name succeeded")
	}
	wantAbsent(t, s, owner, "a-new")
	if sec := mustGet(t, s, owner, "x"); string(sec.Value) != "3" {
		t.Errorf("a failed import changed x: %q", sec.Value)
	}
	// Another owner's namespace is untouched by the import.
	if _, err := s.Versions(ctx, owner+"-other", "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the import leaked into another owner: %v", err)
	}
}

// testImportAudit: an imported log reads back event for event, verifies
// with the same head, and later appends continue its chain; a log that is
// not empty refuses an import.
func testImportAudit(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string) {
	ctx := ctxT(t)
	var log []audit.Event
	var head audit.Head
	t0 := time.Now().Add(-time.Hour)
	for i, act := range []audit.Action{audit.Login, audit.Write, audit.Read} {
		e := audit.Event{Time: t0.Add(time.Duration(i) * time.Minute), Action: act, Keys: []string{"k"}, Actor: "actor", Job: "job", IP: "10.0.0.1", Status: 200}
		e, head = audit.Link(head, e)
		log = append(log, e)
	}
	if err := a.ImportAudit(ctx, owner, log); err != nil {
		t.Fatal(err)
	}
	got := allEvents(t, s, owner, 2)
	if len(got) != len(log) {
		t.Fatalf("%d events after the import, want %d", len(got), len(log))
	}
	for i := range log {
		if got[i].Seq != log[i].Seq || got[i].Hash != log[i].Hash || !got[i].Time.Equal(log[i].Time) || got[i].Job != "job" {
			t.Errorf("event %d: %+v, want %+v", i, got[i], log[i])
		}
	}
	if h, err := audit.Verify(got); err != nil || h != head {
		t.Fatalf("the imported log verifies to %+v, %v; want %+v", h, err, head)
	}
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev(audit.List, "k")}); err != nil {
		t.Fatal(err)
	}
	// A store that signs (the seal layer above a backend) adopts the
	// imported, never signed log before its first append.
	want := []audit.Action{audit.Login, audit.Write, audit.Read, audit.List}
	if _, ok := selfSigned(s); ok {
		want = []audit.Action{audit.Login, audit.Write, audit.Read, audit.Adopt, audit.List}
	}
	after := allEvents(t, s, owner, 10)
	if h, err := audit.Verify(after); err != nil || h.Seq != uint64(len(want)) {
		t.Errorf("an append after the import: head %+v, %v", h, err)
	}
	var acts []audit.Action
	for _, e := range after {
		acts = append(acts, e.Action)
	}
	if !slices.Equal(acts, want) {
		t.Errorf("after the import and an append: %v, want %v", acts, want)
	}
	if err := a.ImportAudit(ctx, owner, log); err == nil {
		t.Error("importing into a log that is not empty succeeded")
	}
	if n := len(allEvents(t, s, owner, 10)); n != len(want) {
		t.Errorf("a refused import left %d events, want %d", n, len(want))
	}
	var seqs []uint64
	err := a.WalkAudit(ctx, func(o string, e audit.Event) error {
		if o == owner {
			seqs = append(seqs, e.Seq)
		}
		return nil
	})
	if err != nil || len(seqs) != len(want) || seqs[0] != 1 || seqs[len(seqs)-1] != uint64(len(want)) {
		t.Errorf("WalkAudit visits %v, %v; want 1 to %d", seqs, err, len(want))
	}
}

// testAuditContinue: a signing append vouches only for a head the server
// signed (audit.Continue). The operator of the store rewrites the newest
// event of a signed log and strips its signature: the next append (or
// retention trim) links a Break first, and the log never verifies again.
// A log that was never signed is adopted, once, and verifies; a log the
// server signed gets neither.
func testAuditContinue(t *testing.T, s storage.HistoryStore, a storage.HistoryAdmin, owner string) {
	if _, ok := selfSigned(s); ok {
		// The rule is the backend's, run by each backend's suite with a
		// signer of the test's; a store that signs with its own key cannot
		// be given the test's logs as its own. Through the whole stack,
		// test/e2e's TestAuditStrippedHeadNotVouched holds it.
		t.Skip("the store signs with its own key")
	}
	ctx, keys := signed(t)
	sg, _ := testSigner(t)
	old := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	// build is a log of n reads, each its own append, signed (by sign)
	// as the server writes it, then imported as it is.
	build := func(owner string, n int, sign *audit.Signer, edit func([]audit.Event)) {
		t.Helper()
		var log []audit.Event
		var head audit.Head
		for i := range n {
			e := audit.Event{Time: old.Add(time.Duration(i) * time.Minute), Action: audit.Read, Keys: []string{fmt.Sprint("k", i)}, Actor: "node", IP: "10.0.0.1", Status: 200}
			e, head = audit.Link(head, e)
			if sign != nil {
				sign.Sign(owner, &e)
			}
			log = append(log, e)
		}
		if edit != nil {
			edit(log)
		}
		if err := a.ImportAudit(ctx, owner, log); err != nil {
			t.Fatal(err)
		}
	}
	// forge rewrites the newest event, strips its signature and relinks
	// it, as someone who can edit the store but lacks the master key can.
	forge := func(log []audit.Event) {
		e := &log[len(log)-1]
		e.Keys, e.Status, e.Sig, e.SigKey = []string{"forged"}, 403, "", ""
		e.Hash, _ = audit.ComputeHash(*e)
	}
	actions := func(log []audit.Event) []audit.Action {
		out := make([]audit.Action, len(log))
		for i, e := range log {
			out[i] = e.Action
		}
		return out
	}

	// Signed by the server: an append continues it as it is.
	honest := owner + "-signed"
	build(honest, 3, sg, nil)
	if err := s.AppendAudit(ctx, honest, []audit.Event{ev(audit.List, "k")}); err != nil {
		t.Fatal(err)
	}
	if got := actions(verifySigned(t, s, honest, keys)); !slices.Equal(got, []audit.Action{audit.Read, audit.Read, audit.Read, audit.List}) {
		t.Errorf("an append after a signed head stored %v", got)
	}

	// The newest event rewritten, unsigned: Break, then the append.
	forged := owner + "-forged"
	build(forged, 3, sg, forge)
	if err := s.AppendAudit(ctx, forged, []audit.Event{ev(audit.List, "k")}); err != nil {
		t.Fatalf("an append onto a forged head was refused: %v", err)
	}
	log := allEvents(t, s, forged, 50)
	if got := actions(log); !slices.Equal(got, []audit.Action{audit.Read, audit.Read, audit.Read, audit.Break, audit.List}) {
		t.Fatalf("an append after a forged head stored %v, want a break before it", got)
	}
	if _, err := audit.VerifySigned(log, forged, keys); err == nil || !strings.Contains(err.Error(), "events seq 3 to 3") {
		t.Fatalf("VerifySigned of a forged log that the server appended to = %v", err)
	}
	// The next append continues the server's own head: no second break,
	// and the log still fails.
	if err := s.AppendAudit(ctx, forged, []audit.Event{ev(audit.Read, "k")}); err != nil {
		t.Fatal(err)
	}
	if log = allEvents(t, s, forged, 50); len(log) != 6 || log[5].Action != audit.Read {
		t.Fatalf("after a break: %s", describeEvents(log))
	}
	if _, err := audit.VerifySigned(log, forged, keys); err == nil {
		t.Fatal("a broken log verifies once more events follow")
	}

	// Signed by a key the server does not trust: a break too.
	other := owner + "-other"
	stranger, err := audit.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	build(other, 2, stranger, nil)
	if err := s.AppendAudit(ctx, other, []audit.Event{ev(audit.List, "k")}); err != nil {
		t.Fatal(err)
	}
	if got := actions(allEvents(t, s, other, 50)); !slices.Equal(got, []audit.Action{audit.Read, audit.Read, audit.Break, audit.List}) {
		t.Errorf("an append after a head signed by another key stored %v", got)
	}

	// Retention trims a forged log: the trim does not vouch for it either.
	trimmed := owner + "-trimmed"
	build(trimmed, 4, sg, forge)
	if err := s.TrimAudit(ctx, old.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	log = allEvents(t, s, trimmed, 50)
	if got := actions(log); !slices.Equal(got, []audit.Action{audit.Read, audit.Break, audit.Trim}) {
		t.Fatalf("a retention trim of a forged log stored %v", got)
	}
	if _, err := audit.VerifySigned(log, trimmed, keys); err == nil {
		t.Fatal("VerifySigned of a forged log that retention trimmed passes")
	}

	// Never signed (written before the server signed): adopted, once.
	unsigned := owner + "-unsigned"
	build(unsigned, 3, nil, nil)
	for range 2 {
		if err := s.AppendAudit(ctx, unsigned, []audit.Event{ev(audit.List, "k")}); err != nil {
			t.Fatal(err)
		}
	}
	log = verifySigned(t, s, unsigned, keys)
	if got := actions(log); !slices.Equal(got, []audit.Action{audit.Read, audit.Read, audit.Read, audit.Adopt, audit.List, audit.List}) {
		t.Fatalf("appends to a log never signed stored %v, want one adoption", got)
	}
	if rep, _ := audit.VerifySigned(log, unsigned, keys); rep.Adopted != 4 {
		t.Errorf("the report of an adopted log says adopted at %d, want 4", rep.Adopted)
	}
}
