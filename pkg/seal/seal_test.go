package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func mustRing(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

// mustStore is the seal layer over lower with a keyring of keys; an error
// fails t.
func mustStore(t *testing.T, lower storage.Store, keys ...[]byte) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), lower, mustRing(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := mustRing(t, testKey(1))
	for _, pt := range [][]byte{nil, []byte(`"hunter2"`), bytes.Repeat([]byte("x"), 1<<20)} {
		blob, err := kr.Seal("owner", "name", pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 4 && bytes.Contains(blob, pt) {
			t.Fatal("plaintext visible in the blob")
		}
		got, err := kr.Open("owner", "name", blob)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("open = %q, %v", got, err)
		}
	}
	a, _ := kr.Seal("o", "n", []byte("same"))
	b, _ := kr.Seal("o", "n", []byte("same"))
	if bytes.Equal(a, b) {
		t.Error("two seals of one value are equal: nonce reused")
	}
}

func TestBlobBoundToOwnerNameAndKey(t *testing.T) {
	kr := mustRing(t, testKey(1))
	blob, _ := kr.Seal("alice", "db/password", []byte(`"hunter2"`))
	cases := map[string]func() ([]byte, error){
		"other owner":         func() ([]byte, error) { return kr.Open("mallory", "db/password", blob) },
		"other name":          func() ([]byte, error) { return kr.Open("alice", "db/passwore", blob) },
		"owner/name boundary": func() ([]byte, error) { return kr.Open("alicedb", "/password", blob) },
		"other key":           func() ([]byte, error) { return mustRing(t, testKey(2)).Open("alice", "db/password", blob) },
		"truncated":           func() ([]byte, error) { return kr.Open("alice", "db/password", blob[:len(blob)-1]) },
		"empty":               func() ([]byte, error) { return kr.Open("alice", "db/password", nil) },
		"plaintext json":      func() ([]byte, error) { return kr.Open("alice", "db/password", []byte(`"hunter2-but-not-sealed"`)) },
		"flipped bit":         func() ([]byte, error) { return kr.Open("alice", "db/password", flip(blob, len(blob)-20)) },
		"flipped nonce":       func() ([]byte, error) { return kr.Open("alice", "db/password", flip(blob, 8)) },
		"flipped format byte": func() ([]byte, error) { return kr.Open("alice", "db/password", flip(blob, 0)) },
		"flipped key id":      func() ([]byte, error) { return kr.Open("alice", "db/password", flip(blob, 2)) },
	}
	for name, open := range cases {
		pt, err := open()
		if !errors.Is(err, ErrOpen) || pt != nil {
			t.Errorf("%s: opened (%q, %v)", name, pt, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the value", name)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestRotation(t *testing.T) {
	old := mustRing(t, testKey(1))
	blob, _ := old.Seal("o", "n", []byte("v"))
	rotated := mustRing(t, testKey(2), testKey(1))
	if got, err := rotated.Open("o", "n", blob); err != nil || string(got) != "v" {
		t.Fatalf("old blob under rotated ring: %q %v", got, err)
	}
	if !rotated.NeedsRekey(blob) {
		t.Error("old blob does not need rekey")
	}
	fresh, _ := rotated.Seal("o", "n", []byte("v"))
	if rotated.NeedsRekey(fresh) {
		t.Error("fresh blob needs rekey")
	}
	if _, err := old.Open("o", "n", fresh); err == nil {
		t.Error("old ring opened a blob of the new key")
	}
	if rotated.ActiveID() == old.ActiveID() || rotated.IDs()[1] != old.ActiveID() {
		t.Errorf("ids: %v vs %v", rotated.IDs(), old.IDs())
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(); err == nil {
		t.Error("empty keyring")
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("16-byte key")
	}
	if _, err := New(testKey(1), testKey(1)); err == nil {
		t.Error("repeated key")
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := NewKey(), NewKey()
	keys, err := ParseKeys("# rotated 2026-11\n" + k1 + "\n\n" + k2 + "\n")
	if err != nil || len(keys) != 2 {
		t.Fatalf("file form: %d keys, %v", len(keys), err)
	}
	keys, err = ParseKeys(k1 + "," + k2)
	if err != nil || len(keys) != 2 {
		t.Fatalf("comma form: %d keys, %v", len(keys), err)
	}
	if _, err := New(keys...); err != nil {
		t.Fatal(err)
	}
	secretish := "c2hvcnQ=" // "short"
	for _, bad := range []string{"", "# only a comment", "not base64!!", secretish} {
		_, err := ParseKeys(bad)
		if err == nil {
			t.Errorf("%q parsed", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	kr, _ := New(testKey(1))
	pt := []byte(`"a typical secret value of some sixty bytes, like a token"`)
	for b.Loop() {
		_, _ = kr.Seal("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF", "pipeline1-ssh-key", pt)
	}
}

func BenchmarkOpen(b *testing.B) {
	kr, _ := New(testKey(1))
	blob, _ := kr.Seal("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF", "pipeline1-ssh-key", []byte(`"a typical secret value of some sixty bytes, like a token"`))
	for b.Loop() {
		_, _ = kr.Open("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF", "pipeline1-ssh-key", blob)
	}
}

func TestKeyCheck(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	k1 := mustRing(t, testKey(1))
	if s, err := NewStore(ctx, store, k1); err != nil || s.SealedWithOlderKey() {
		t.Fatalf("first start: %v", err)
	}
	if _, err := NewStore(ctx, store, k1); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	_, err := NewStore(ctx, store, mustRing(t, testKey(2)))
	if err == nil || !strings.Contains(err.Error(), k1.ActiveID()) {
		t.Fatalf("wrong key: %v", err)
	}
	rotated := mustRing(t, testKey(2), testKey(1))
	s, err := NewStore(ctx, store, rotated)
	if err != nil || !s.SealedWithOlderKey() {
		t.Fatalf("rotated ring: %v", err)
	}
	// After a rekey the new key alone opens the store.
	total, stale, err := s.FindStale(ctx)
	if err != nil || total != 1 || len(stale) != 1 {
		t.Fatalf("FindStale = %d, %d, %v; want the key check", total, len(stale), err)
	}
	if ok, err := s.Reseal(ctx, stale[0]); !ok || err != nil {
		t.Fatalf("Reseal of the key check: %v, %v", ok, err)
	}
	if s, err := NewStore(ctx, store, mustRing(t, testKey(2))); err != nil || s.SealedWithOlderKey() {
		t.Fatalf("new key alone after rekey: %v", err)
	}
}

// TestLegacyKeyCheck: a store whose check is the secret record of older
// versions keeps refusing a wrong key.
func TestLegacyKeyCheck(t *testing.T) {
	ctx := context.Background()
	store := storage.Check(memstore.New())
	k1 := mustRing(t, testKey(1))
	blob, _ := k1.Seal(SystemOwner, checkName, checkPlain)
	if err := store.Put(ctx, SystemOwner, []storage.Item{{Name: checkName, Value: blob}}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(ctx, store, mustRing(t, testKey(2))); err == nil {
		t.Fatal("a wrong key opened a store with a legacy check")
	}
	if _, err := NewStore(ctx, store, k1); err != nil {
		t.Fatal(err)
	}
}

// TestLayerConformance: above the seal layer the store behaves as every
// backend does, on plaintext; below it no value is plaintext.
func TestLayerConformance(t *testing.T) {
	lower := memstore.New()
	s := mustStore(t, lower, testKey(1))
	storagetest.Run(t, s)
	err := lower.Walk(context.Background(), func(owner string, sec storage.Secret) error {
		if len(sec.Value) == 0 || sec.Value[0] != formatV1 {
			t.Errorf("%s %q stored unsealed", owner, sec.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	lower := storage.Check(memstore.New())
	old := mustStore(t, lower, testKey(1))
	if err := old.Put(ctx, "o", []storage.Item{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	s := mustStore(t, lower, testKey(2), testKey(1))
	total, stale, err := s.FindStale(ctx)
	if err != nil || total != 3 || len(stale) != 3 {
		t.Fatalf("FindStale = %d, %d, %v", total, len(stale), err)
	}
	// Written meanwhile by a server with the new key: left alone.
	if err := s.Put(ctx, "o", []storage.Item{{Name: "b", Value: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if ok, err := s.Reseal(ctx, stale[i]); ok != want || err != nil {
			t.Fatalf("Reseal(%s) = %v, %v; want %v", stale[i].Name, ok, err, want)
		}
	}
	fresh := mustStore(t, lower, testKey(2))
	for name, want := range map[string]string{"a": "1", "b": "3"} {
		if sec, err := fresh.Get(ctx, "o", name); err != nil || string(sec.Value) != want {
			t.Errorf("%s = %q, %v; want %q", name, sec.Value, err, want)
		}
	}
}

// barrierMeta holds every GetMeta of the key check until n callers have made one, so all
// of them read the empty store before any writes: the worst interleaving
// of servers starting at once.
type barrierMeta struct {
	storage.Store
	wg *sync.WaitGroup
}

func (b barrierMeta) GetMeta(ctx context.Context, key string) ([]byte, error) {
	v, err := b.Store.GetMeta(ctx, key)
	if key == checkMeta {
		b.wg.Done()
		b.wg.Wait()
	}
	return v, err
}

// TestKeyCheckRace: stores with different keys open one empty store at
// once; exactly one passes the key check.
func TestKeyCheckRace(t *testing.T) {
	const n = 8
	var reads, done sync.WaitGroup
	reads.Add(n)
	lower := barrierMeta{Store: memstore.New(), wg: &reads}
	passed := make([]bool, n)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			_, err := NewStore(context.Background(), lower, mustRing(t, testKey(byte(i+1))))
			passed[i] = err == nil
		}()
	}
	done.Wait()
	if got := strings.Count(fmt.Sprint(passed), "true"); got != 1 {
		t.Fatalf("%d of %d different keys passed the check of one empty store", got, n)
	}
}

// TestListSkipsUnreadable: a value that does not open leaves the others of
// a listing readable and is named, never shown, in an UnreadableError.
func TestListSkipsUnreadable(t *testing.T) {
	ctx := context.Background()
	lower := storage.Check(memstore.New())
	s := mustStore(t, lower, testKey(1))
	items := []storage.Item{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}, {Name: "c", Value: []byte("3")}}
	if err := s.Put(ctx, "o", items); err != nil {
		t.Fatal(err)
	}
	b, err := lower.Get(ctx, "o", "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := lower.Put(ctx, "o", []storage.Item{{Name: "b", Value: flip(b.Value, len(b.Value)-1)}}); err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func() ([]storage.Secret, error){
		"List":    func() ([]storage.Secret, error) { return s.List(ctx, "o", "") },
		"GetMany": func() ([]storage.Secret, error) { return s.GetMany(ctx, "o", []string{"a", "b", "c"}) },
	} {
		secs, err := list()
		var ue *storage.UnreadableError
		if !errors.As(err, &ue) || len(ue.Names) != 1 || ue.Names[0] != "b" {
			t.Fatalf("%s: error %v, want an UnreadableError naming b", name, err)
		}
		if len(secs) != 2 || secs[0].Name != "a" || string(secs[0].Value) != "1" || secs[1].Name != "c" || string(secs[1].Value) != "3" {
			t.Fatalf("%s: got %+v, want a=1 and c=3", name, secs)
		}
	}
}

// TestUnfinishedRekey: while a rekey's record stands, a keyring without its
// target key does not open the store, and says what to do.
func TestUnfinishedRekey(t *testing.T) {
	ctx := context.Background()
	lower := storage.Check(memstore.New())
	mustStore(t, lower, testKey(1))
	s := mustStore(t, lower, testKey(2), testKey(1))
	if err := s.BeginRekey(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := NewStore(ctx, lower, mustRing(t, testKey(1)))
	if err == nil || !strings.Contains(err.Error(), "rerun `nosana-secrets rekey`") || !strings.Contains(err.Error(), s.ActiveKeyID()) {
		t.Fatalf("old key alone during a rekey: %v", err)
	}
	if _, err := NewStore(ctx, lower, mustRing(t, testKey(2), testKey(1))); err != nil {
		t.Fatalf("both keys during a rekey: %v", err)
	}
	if err := s.EndRekey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(ctx, lower, mustRing(t, testKey(1))); err != nil {
		t.Fatalf("old key after the record is cleared: %v", err)
	}
}
