package mongostore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestHistoryAdminRoundTrip: what rekey and backup/restore rely on. A walk
// sees every kept version in order, a swap of an old version changes it
// alone, and versions and a log imported into another owner read back
// as they were.
func TestHistoryAdminRoundTrip(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner, copyTo := storagetest.Unique("adm-"), storagetest.Unique("adm-")
	commitValue(t, s, owner, "k", "a")
	commitValue(t, s, owner, "k", "b")
	var got []storage.Version
	if err := s.WalkVersions(ctx, func(o string, v storage.Version) error {
		if o == owner {
			got = append(got, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Value) != "a" || got[0].Version != 1 || string(got[1].Value) != "b" {
		t.Fatalf("walk: %+v", got)
	}
	if ok, err := s.SwapVersion(ctx, owner, "k", 1, []byte("a"), []byte("A")); err != nil || !ok {
		t.Fatalf("SwapVersion = %v, %v", ok, err)
	}
	if ok, _ := s.SwapVersion(ctx, owner, "k", 1, []byte("a"), []byte("x")); ok {
		t.Error("a swap from a stale value swapped")
	}
	if v := valueOf(t, s, owner, "k", 1); v != "A" {
		t.Errorf("version 1 after its swap: %q", v)
	}
	if v := valueOf(t, s, owner, "k", 0); v != "b" {
		t.Errorf("the newest after swapping an older one: %q", v)
	}

	vs, err := s.Versions(ctx, owner, "k")
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(vs)
	for i := range vs {
		full, err := s.GetVersion(ctx, owner, "k", vs[i].Version)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = full
	}
	if err := s.ImportVersions(ctx, copyTo, vs); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportVersions(ctx, copyTo, vs); err == nil {
		t.Error("an import over names held succeeded")
	}
	if got := versionsOf(t, s, copyTo, "k"); !slices.Equal(got, []int64{2, 1}) {
		t.Fatalf("imported versions %v", got)
	}
	if v := valueOf(t, s, copyTo, "k", 1); v != "A" {
		t.Errorf("imported version 1: %q", v)
	}
	if sec, err := s.Get(ctx, copyTo, "k"); err != nil || string(sec.Value) != "b" || sec.Version != 2 {
		t.Errorf("Secrets after the import: %q v%d, %v", sec.Value, sec.Version, err)
	}
	if u, err := s.Usage(ctx, copyTo); err != nil || u != (storage.Usage{Secrets: 1, Bytes: 2}) {
		t.Errorf("usage after the import: %+v, %v", u, err)
	}

	var log []audit.Event
	var head audit.Head
	for range 3 {
		var e audit.Event
		e, head = audit.Link(head, audit.Event{Time: time.Now(), Action: audit.Write, Keys: []string{"k"}, Actor: "a", IP: "127.0.0.1", Status: 200})
		log = append(log, e)
	}
	if err := s.ImportAudit(ctx, copyTo, log); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportAudit(ctx, copyTo, log); err == nil {
		t.Error("an import into a log that is not empty succeeded")
	}
	if err := s.AppendAudit(ctx, copyTo, []audit.Event{log[0]}); err != nil {
		t.Fatal(err)
	}
	back, err := storage.ReadAudit(ctx, s, copyTo)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := audit.Verify(back); err != nil || h.Seq != 4 || back[2].Hash != head.Hash {
		t.Errorf("imported log then an append: head %+v, %v", h, err)
	}
}

// TestImportVersionsAfterAKill: an import killed after its reservation,
// with one version document in and no head (what a kill leaves without a
// transaction), then run again: the second import succeeds, reads back
// whole, and the owner's usage is what it holds, not what the kill
// reserved on top.
func TestImportVersionsAfterAKill(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner := storagetest.Unique("kill-")
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	by := storage.Writer{Address: owner}
	vs := []storage.Version{
		{Name: "k", Version: 1, Value: []byte("first"), CreatedAt: at, By: by},
		{Name: "k", Version: 2, Value: []byte("second"), CreatedAt: at.Add(time.Minute), By: by},
	}
	// The killed import: its reservation, and the older version's document.
	if err := mongostore.Reserve(ctx, s, owner, storage.Usage{Secrets: 1, Bytes: 11}); err != nil {
		t.Fatal(err)
	}
	if _, err := mongostore.Versions(s).InsertOne(ctx, bson.D{{Key: "_id", Value: mongostore.VID(owner, "k", 1)}, {Key: "owner", Value: owner},
		{Key: "name", Value: "k"}, {Key: "version", Value: int64(1)}, {Key: "value", Value: []byte("first")}, {Key: "created_at", Value: at},
		{Key: "by_address", Value: owner}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportVersions(ctx, owner, vs); err != nil {
		t.Fatalf("the import run again after a kill: %v", err)
	}
	got, err := s.Versions(ctx, owner, "k")
	if err != nil || len(got) != 2 {
		t.Fatalf("versions after the import: %+v, %v", got, err)
	}
	u, err := s.Usage(ctx, owner)
	if err != nil || u.Secrets != 1 || u.Bytes != int64(len("first")+len("second")) {
		t.Errorf("usage after a killed import and its rerun: %+v, %v; want 1 secret, %d bytes", u, err, len("first")+len("second"))
	}
}

// TestImportAuditAfterAKill: an audit import killed half-way (without a
// transaction its events go in by batches) leaves the start of the log;
// the import run again goes on after it, the log reads back whole and
// verifies, and the owner's audit bytes are what it holds. A log with
// other events, or all of them, stays refused.
func TestImportAuditAfterAKill(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner := storagetest.Unique("kill-")
	var log []audit.Event
	var head audit.Head
	for range 5 {
		var e audit.Event
		e, head = audit.Link(head, audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{"k"}, Actor: owner, IP: "10.0.0.1", Status: 200})
		log = append(log, e)
	}
	if err := s.ImportAudit(ctx, owner, log[:2]); err != nil { // what the kill left
		t.Fatal(err)
	}
	if err := mongostore.Reserve(ctx, s, owner, storage.Usage{AuditBytes: 999}); err != nil { // and its reservation
		t.Fatal(err)
	}
	if err := s.ImportAudit(ctx, owner, log); err != nil {
		t.Fatalf("the import run again after a kill: %v", err)
	}
	got, err := storage.ReadAudit(ctx, s, owner)
	if err != nil || len(got) != 5 {
		t.Fatalf("after the import: %d events, %v", len(got), err)
	}
	if h, err := audit.Verify(got); err != nil || h != head {
		t.Fatalf("the log verifies to %+v, %v; want %+v", h, err, head)
	}
	size := audittest.LogSize(got)
	if u, err := s.Usage(ctx, owner); err != nil || u.AuditBytes != size {
		t.Errorf("audit bytes %d, %v; the log takes %d", u.AuditBytes, err, size)
	}
	if err := s.ImportAudit(ctx, owner, log); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("an import into the whole log: %v, want ErrInvalid", err)
	}
	other := storagetest.Unique("kill-")
	if err := s.ImportAudit(ctx, other, log[1:3]); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportAudit(ctx, other, log); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("an import into a log that is not its start: %v, want ErrInvalid", err)
	}
}
