package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestHistoryAdmin: what a backup reads with WalkVersions and the audit
// log, imported into another store, reads back the same (versions, times,
// writers, current values, the chain); a rekey's SwapVersion changes one
// version and, for the newest, what Secrets reads.
func TestHistoryAdmin(t *testing.T) {
	ctx := context.Background()
	src, _ := openOwn(t)
	owner := storagetest.Unique("owner-")
	by := storage.Writer{Address: "addr", Job: "job"}
	ev := audit.Event{Time: time.Now(), Action: audit.Write, Actor: "addr", IP: "127.0.0.1", Status: 200}
	for _, c := range []storage.Change{set("k", "one"), set("k", "two"), {Name: "gone", Value: []byte("g"), CAS: storage.NoCAS}, {Name: "gone", Delete: true, CAS: storage.NoCAS}} {
		if _, err := src.Commit(ctx, storage.Commit{Owner: owner, By: by, Changes: []storage.Change{c}, Event: &ev}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Put(ctx, owner, []storage.Item{{Name: "put", Value: []byte("p")}}); err != nil {
		t.Fatal(err)
	}
	var walked []storage.Version
	err := src.WalkVersions(ctx, func(o string, v storage.Version) error {
		if o == owner {
			walked = append(walked, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range walked {
		s := v.Name + ":" + string(v.Value)
		if v.Deleted {
			s = v.Name + ":<deleted>"
		}
		got = append(got, s)
	}
	if want := []string{"gone:g", "gone:<deleted>", "k:one", "k:two", "put:p"}; !slices.Equal(got, want) {
		t.Fatalf("walked %q, want %q", got, want)
	}
	events, err := storage.ReadAudit(ctx, src, owner)
	if err != nil || len(events) != 4 {
		t.Fatalf("audit %d events, %v", len(events), err)
	}

	dst, _ := openOwn(t)
	if err := dst.ImportVersions(ctx, owner, walked); err != nil {
		t.Fatal(err)
	}
	if err := dst.ImportAudit(ctx, owner, events); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"k", "gone", "put"} {
		a, _ := src.Versions(ctx, owner, name)
		b, err := dst.Versions(ctx, owner, name)
		if err != nil || !slices.EqualFunc(a, b, func(x, y storage.Version) bool {
			return x.Version == y.Version && x.Deleted == y.Deleted && x.CreatedAt.Equal(y.CreatedAt) && x.By == y.By
		}) {
			t.Errorf("versions of %s: source %+v, imported %+v (%v)", name, a, b, err)
		}
	}
	if sec, err := dst.Get(ctx, owner, "k"); err != nil || string(sec.Value) != "two" || sec.Version != 2 {
		t.Errorf("current k after import: %+v, %v", sec, err)
	}
	if _, err := dst.Get(ctx, owner, "gone"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a tombstoned name after import: %v", err)
	}
	if a, _ := src.Usage(ctx, owner); a != usage(t, dst, owner) {
		t.Errorf("usage: source %+v, imported %+v", a, usage(t, dst, owner))
	}
	back, err := storage.ReadAudit(ctx, dst, owner)
	if err != nil || len(back) != 4 || back[3].Hash != events[3].Hash {
		t.Fatalf("imported audit: %+v, %v", back, err)
	}
	if _, err := audit.Verify(back); err != nil {
		t.Fatal(err)
	}
	if err := dst.ImportAudit(ctx, owner, events); err == nil {
		t.Error("an import into a log with events succeeded")
	}
	// The chain continues after the imported head.
	if err := dst.AppendAudit(ctx, owner, []audit.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if all, _ := storage.ReadAudit(ctx, dst, owner); len(all) != 5 || all[4].Seq != 5 || all[4].PrevHash != events[3].Hash {
		t.Errorf("append after import: %+v", all[0])
	}

	// SwapVersion: an old version alone; the newest also in Secrets; a
	// stale old value swaps nothing.
	if ok, err := dst.SwapVersion(ctx, owner, "k", 1, []byte("one"), []byte("ONE")); !ok || err != nil {
		t.Fatalf("swap v1: %v %v", ok, err)
	}
	if ok, _ := dst.SwapVersion(ctx, owner, "k", 2, []byte("stale"), []byte("x")); ok {
		t.Error("a swap with a stale old value")
	}
	if ok, err := dst.SwapVersion(ctx, owner, "k", 2, []byte("two"), []byte("TWO!")); !ok || err != nil {
		t.Fatalf("swap v2: %v %v", ok, err)
	}
	if ok, err := dst.SwapVersion(ctx, owner, "put", 1, []byte("p"), []byte("P")); !ok || err != nil {
		t.Fatalf("swap of a Put secret: %v %v", ok, err)
	}
	v1, _ := dst.GetVersion(ctx, owner, "k", 1)
	sec, _ := dst.Get(ctx, owner, "k")
	put, _ := dst.Get(ctx, owner, "put")
	if string(v1.Value) != "ONE" || string(sec.Value) != "TWO!" || string(put.Value) != "P" {
		t.Errorf("after swaps: v1 %q, current %q, put %q", v1.Value, sec.Value, put.Value)
	}
	kept := usage(t, dst, owner)
	if counted, err := dst.Recount(ctx, owner); err != nil || counted != kept {
		t.Errorf("usage after swaps %+v, counted %+v (%v)", kept, counted, err)
	}
}

// TestWalkVersionsEveryOwner: owners whose every name is deleted (no
// current record) do not end the walk early: a backup of the others would
// be silently short.
func TestWalkVersionsEveryOwner(t *testing.T) {
	ctx := context.Background()
	s, _ := openOwn(t)
	var owners []string
	for i := range 6 {
		owner := storagetest.Unique("walk-")
		owners = append(owners, owner)
		if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{set("k", "v")}}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // every other owner keeps only a tombstone
			if _, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "k", Delete: true, CAS: storage.NoCAS}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]int{}
	if err := s.WalkVersions(ctx, func(o string, v storage.Version) error { seen[o]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, o := range owners {
		if want := 1 + (1-i%2)*1; seen[o] != want {
			t.Errorf("owner %d: %d versions walked, want %d", i, seen[o], want)
		}
	}
}
