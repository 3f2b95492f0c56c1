package seal

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
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

func TestCheckStore(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	k1 := mustRing(t, testKey(1))
	if old, err := CheckStore(ctx, store, k1); err != nil || old {
		t.Fatalf("first start: %v %v", old, err)
	}
	if _, err := CheckStore(ctx, store, k1); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	_, err = CheckStore(ctx, store, mustRing(t, testKey(2)))
	if err == nil || !strings.Contains(err.Error(), k1.ActiveID()) {
		t.Fatalf("wrong key: %v", err)
	}
	rotated := mustRing(t, testKey(2), testKey(1))
	if old, err := CheckStore(ctx, store, rotated); err != nil || !old {
		t.Fatalf("rotated ring: old=%v %v", old, err)
	}
}
