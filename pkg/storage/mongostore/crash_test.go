package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func versionsOf(t *testing.T, s *mongostore.Store, owner, name string) []int64 {
	t.Helper()
	vs, err := s.Versions(context.Background(), owner, name)
	if err != nil {
		t.Fatalf("Versions(%s): %v", name, err)
	}
	var out []int64
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

func commitValue(t *testing.T, s *mongostore.Store, owner, name, value string) int64 {
	t.Helper()
	vs, err := s.Commit(context.Background(), storage.Commit{Owner: owner, Changes: []storage.Change{{Name: name, Value: []byte(value), CAS: storage.NoCAS}}})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0]
}

func valueOf(t *testing.T, s *mongostore.Store, owner, name string, v int64) string {
	t.Helper()
	got, err := s.GetVersion(context.Background(), owner, name, v)
	if err != nil {
		t.Fatalf("GetVersion(%s, %d): %v", name, v, err)
	}
	return string(got.Value)
}

// TestCrashBetweenCopyAndUpdate: a writer copied the head into its version
// document and stopped before superseding it. The version reads once, and
// the next write goes on from it.
func TestCrashBetweenCopyAndUpdate(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner := storagetest.Unique("crash-")
	commitValue(t, s, owner, "k", "a")
	commitValue(t, s, owner, "k", "b")
	var head bson.M
	if err := mongostore.Secrets(s).FindOne(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "name", Value: "k"}}).Decode(&head); err != nil {
		t.Fatal(err)
	}
	// The copy a crashed writer of version 3 left.
	if _, err := mongostore.Versions(s).InsertOne(ctx, bson.D{{Key: "_id", Value: head["_id"].(string) + "#00000000000000000002"},
		{Key: "owner", Value: owner}, {Key: "name", Value: "k"}, {Key: "version", Value: int64(2)}, {Key: "value", Value: []byte("b")},
		{Key: "deleted", Value: false}, {Key: "created_at", Value: head["updated_at"]}, {Key: "by_address", Value: ""}, {Key: "by_job", Value: ""}, {Key: "sw", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, s, owner, "k"); !slices.Equal(got, []int64{2, 1}) {
		t.Fatalf("versions with a leftover copy: %v, want [2 1]", got)
	}
	if v := commitValue(t, s, owner, "k", "c"); v != 3 {
		t.Fatalf("next version %d, want 3", v)
	}
	if got := versionsOf(t, s, owner, "k"); !slices.Equal(got, []int64{3, 2, 1}) {
		t.Fatalf("versions: %v", got)
	}
	for v, want := range map[int64]string{1: "a", 2: "b", 3: "c"} {
		if got := valueOf(t, s, owner, "k", v); got != want {
			t.Errorf("version %d = %q, want %q", v, got, want)
		}
	}
}

// plantLeftovers inserts version documents 1 to 3 of name with no head, as
// a writer copying a head while Delete removed it leaves them.
func plantLeftovers(t *testing.T, s *mongostore.Store, owner, name string) {
	t.Helper()
	old := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	for v := int64(1); v <= 3; v++ {
		_, err := mongostore.Versions(s).InsertOne(context.Background(), bson.D{
			{Key: "_id", Value: fmt.Sprintf("%d:%s:%s#%020d", len(owner), owner, name, v)},
			{Key: "owner", Value: owner}, {Key: "name", Value: name}, {Key: "version", Value: v}, {Key: "value", Value: []byte("leftover")},
			{Key: "deleted", Value: false}, {Key: "created_at", Value: old}, {Key: "by_address", Value: ""}, {Key: "by_job", Value: ""}, {Key: "sw", Value: int64(0)}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeftoverVersionsInvisible: version documents left without a head
// never show in a later life of the name, whether Put or Commit brings it
// back, and count for no quota.
func TestLeftoverVersionsInvisible(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner := storagetest.Unique("left-")
	for _, name := range []string{"p", "c"} {
		commitValue(t, s, owner, name, "old1")
		commitValue(t, s, owner, name, "old2")
		commitValue(t, s, owner, name, "old3")
	}
	if err := s.Delete(ctx, owner, []string{"p", "c"}); err != nil {
		t.Fatal(err)
	}
	plantLeftovers(t, s, owner, "p")
	plantLeftovers(t, s, owner, "c")
	if _, err := s.Versions(ctx, owner, "p"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("versions after Delete: %v", err)
	}
	if err := s.Put(ctx, owner, []storage.Item{{Name: "p", Value: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, s, owner, "p"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("a name Put back after Delete: versions %v, want [1]", got)
	}
	if v := commitValue(t, s, owner, "p", "next"); v != 2 {
		t.Fatalf("commit over it: version %d", v)
	}
	if got := versionsOf(t, s, owner, "p"); !slices.Equal(got, []int64{2}) {
		t.Errorf("after a commit over a Put: %v, want [2] (a Put's value is outside the history)", got)
	}
	if got := valueOf(t, s, owner, "p", 0); got != "next" {
		t.Errorf("newest %q", got)
	}
	// Commit numbers after the leftovers and shows none of them.
	v := commitValue(t, s, owner, "c", "new")
	if got := versionsOf(t, s, owner, "c"); !slices.Equal(got, []int64{v}) || v < 3 {
		t.Fatalf("a name committed again after Delete: version %d, versions %v", v, got)
	}
	at, err := s.AsOf(ctx, owner, "", time.Now())
	if err != nil || len(at) != 2 || string(at[0].Value) != "new" || string(at[1].Value) != "next" {
		t.Errorf("AsOf now: %+v, %v", at, err)
	}
	if u, err := s.Usage(ctx, owner); err != nil || u != (storage.Usage{Secrets: 2, Bytes: 7}) {
		t.Errorf("usage %+v, %v; want 2 names, 7 bytes (the leftovers count for nothing)", u, err)
	}
	if err := s.Recount(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Usage(ctx, owner); err != nil || u != (storage.Usage{Secrets: 2, Bytes: 7}) {
		t.Errorf("recounted usage %+v, %v", u, err)
	}
}

// TestPutKeepsCommittedVersion: a Put over a version that Commit wrote
// leaves that version in the history, as on the SQL backends.
func TestPutKeepsCommittedVersion(t *testing.T) {
	s := openAs(t, false)
	owner := storagetest.Unique("putc-")
	commitValue(t, s, owner, "k", "committed")
	if err := s.Put(context.Background(), owner, []storage.Item{{Name: "k", Value: []byte("put")}}); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, s, owner, "k"); !slices.Equal(got, []int64{2, 1}) {
		t.Fatalf("versions %v, want [2 1]", got)
	}
	if got := valueOf(t, s, owner, "k", 1); got != "committed" {
		t.Errorf("version 1 = %q", got)
	}
}

// TestAuditHintLags: the head hint fell behind (a crash after the insert);
// the next append finds the newest event and the chain stays one.
func TestAuditHintLags(t *testing.T) {
	s := openAs(t, false)
	ctx := context.Background()
	owner := storagetest.Unique("hint-")
	ev := audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{"k"}, Actor: "a", IP: "127.0.0.1", Status: 200}
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev, ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := mongostore.AuditHeads(s).UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev, ev}); err != nil {
		t.Fatal(err)
	}
	log, err := storage.ReadAudit(ctx, s, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 4 {
		t.Fatalf("%d events, want 4", len(log))
	}
	if _, err := audit.Verify(log); err != nil {
		t.Fatal(err)
	}
	// A hint further behind than auditHead reads on by _id: the log is
	// asked for its newest event.
	many := make([]audit.Event, 70)
	for i := range many {
		many[i] = ev
	}
	if err := s.AppendAudit(ctx, owner, many); err != nil {
		t.Fatal(err)
	}
	if _, err := mongostore.AuditHeads(s).DeleteOne(ctx, bson.D{{Key: "_id", Value: owner}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if log, err = storage.ReadAudit(ctx, s, owner); err != nil || len(log) != 75 || log[74].Seq != 75 {
		t.Fatalf("after a lost hint: %d events, %v", len(log), err)
	}
	if _, err := audit.Verify(log); err != nil {
		t.Fatal(err)
	}
}
