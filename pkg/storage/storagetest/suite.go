package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Run runs the conformance suite against s, its cases in parallel, and
// returns when all have finished. Every case works in its own random owners
// and keys, so several runs may share one database. s is tested under a
// storage.Checked layer, as stack.Open stacks it: a backend leaves input
// validation to that layer.
func Run(t *testing.T, s storage.Store) { run(t, Shared(s), true) }

// Opener gives a case the store it tests: Shared(s) gives every case s;
// a backend whose queries cost more as the database grows (FerretDB)
// gives each case a database of its own.
type Opener[S any] func(t *testing.T) S

// Shared is the Opener that gives every case s.
func Shared[S any](s S) Opener[S] { return func(*testing.T) S { return s } }

// testCase is one named case of a suite: fn tests s in owner.
type testCase[S any] struct {
	name string
	fn   func(t *testing.T, s S, owner string)
}

// runParallel runs cases as subtests of group, in parallel, each with the
// store storeOf gives it and an owner of its own, Unique(prefix).
func runParallel[S any](t *testing.T, group, prefix string, cases []testCase[S], storeOf func(t *testing.T) S) {
	t.Run(group, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t, storeOf(t), Unique(prefix))
			})
		}
	})
}

// inParallel runs fn(0) … fn(n-1), each in a goroutine of its own, and
// returns when all have returned.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// RunEach is Run with the store of each case from open, which gives each
// case a store of its own and clears what the case wrote (Run deletes it).
func RunEach(t *testing.T, open Opener[storage.Store]) { run(t, open, false) }

func run(t *testing.T, open Opener[storage.Store], cleanup bool) {
	cases := []testCase[storage.Store]{
		{"Values", testValues},
		{"LargeValue", testLargeValue},
		{"Names", testNames},
		{"CaseSensitive", testCaseSensitive},
		{"SpacesDistinct", testSpacesDistinct},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"GetMany", testGetMany},
		{"Delete", testDelete},
		{"BatchAtomic", testBatchAtomic},
		{"BatchDuplicates", testBatchDuplicates},
		{"EmptyInput", testEmptyInput},
		{"PrefixLiteral", testPrefixLiteral},
		{"PrefixMultibyte", testPrefixMultibyte},
		{"OwnerIsolation", testOwnerIsolation},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentBatches", testConcurrentBatches},
		{"ManyKeys", testManyKeys},
		{"Pages", testPages},
		{"Nonce", testNonce},
		{"Incr", testIncr},
		{"Meta", testMeta},
		{"Swap", testSwap},
		{"Walk", testWalk},
		{"Ping", testPing},
		{"CanceledContext", testCanceledContext},
	}
	runParallel(t, "conformance", "test-", cases, func(t *testing.T) storage.Store {
		r := &recorder{Store: storage.Check(open(t)), owners: map[string]bool{}}
		if cleanup {
			t.Cleanup(func() { r.cleanup(t) })
		}
		return r
	})
}

// recorder remembers the owners a case wrote to, so that a case that
// passed can delete its secrets and leave a shared database as it was.
type recorder struct {
	storage.Store
	mu     sync.Mutex
	owners map[string]bool
}

func (r *recorder) Put(ctx context.Context, owner string, items []storage.Item) error {
	r.mu.Lock()
	r.owners[owner] = true
	r.mu.Unlock()
	return r.Store.Put(ctx, owner, items)
}

func (r *recorder) cleanup(t *testing.T) {
	if t.Failed() {
		return // keep the evidence
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for owner := range r.owners {
		secs, err := r.Store.List(ctx, owner, "")
		if err == nil {
			err = r.Store.Delete(ctx, owner, names(secs))
		}
		if err != nil {
			t.Logf("cleaning up %q: %v", owner, err)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s storage.Store, owner string, kv ...string) {
	t.Helper()
	items := make([]storage.Item, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		items = append(items, storage.Item{Name: kv[i], Value: []byte(kv[i+1])})
	}
	if err := s.Put(ctxT(t), owner, items); err != nil {
		t.Fatalf("Put(%q): %v", owner, err)
	}
}

func mustGet(t *testing.T, s storage.Store, owner, name string) storage.Secret {
	t.Helper()
	sec, err := s.Get(ctxT(t), owner, name)
	if err != nil {
		t.Fatalf("Get(%q, %+q): %v", owner, name, err)
	}
	if sec.Name != name {
		t.Fatalf("Get(%q, %+q) returned name %+q", owner, name, sec.Name)
	}
	return sec
}

func wantAbsent(t *testing.T, s storage.Store, owner, name string) {
	t.Helper()
	sec, err := s.Get(ctxT(t), owner, name)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q, %+q) = %q, %v; want ErrNotFound", owner, name, sec.Value, err)
	}
}

func names(secs []storage.Secret) []string {
	out := make([]string, len(secs))
	for i, s := range secs {
		out[i] = s.Name
	}
	return out
}

func list(t *testing.T, s storage.Store, owner, prefix string) []storage.Secret {
	t.Helper()
	secs, err := s.List(ctxT(t), owner, prefix)
	if err != nil {
		t.Fatalf("List(%q, %+q): %v", owner, prefix, err)
	}
	if !slices.IsSortedFunc(secs, func(a, b storage.Secret) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("List(%q, %+q) not sorted by name: %+q", owner, prefix, names(secs))
	}
	return secs
}

func wantList(t *testing.T, s storage.Store, owner, prefix string, want ...string) {
	t.Helper()
	got := names(list(t, s, owner, prefix))
	slices.Sort(want)
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("List(%q, %+q) = %+q; want %+q", owner, prefix, got, want)
	}
}

func sane(t *testing.T, sec storage.Secret) {
	t.Helper()
	n := time.Now()
	for _, ts := range []time.Time{sec.CreatedAt, sec.UpdatedAt} {
		if ts.Before(n.Add(-time.Hour)) || ts.After(n.Add(time.Minute)) {
			t.Errorf("%+q: timestamp %v is not about now (%v)", sec.Name, ts, n)
		}
	}
	if sec.UpdatedAt.Before(sec.CreatedAt) {
		t.Errorf("%+q: updated %v before created %v", sec.Name, sec.UpdatedAt, sec.CreatedAt)
	}
	if sec.Value == nil {
		t.Errorf("%+q: nil value (want empty, not nil)", sec.Name)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testValues: values are opaque bytes, including NUL, invalid UTF-8 and
// empty.
func testValues(t *testing.T, s storage.Store, owner string) {
	values := map[string][]byte{
		"nul":     {0, 1, 0, 2, 0},
		"invalid": {0xff, 0xfe, 0xc0, 0x80, 'a'},
		"empty":   {},
		"nil":     nil,
		"json":    []byte(`{"a":[1,2,"x"],"b":null}`),
		"random":  randomBytes(4096),
		"newline": []byte("line1\nline2\r\n\t"),
	}
	var items []storage.Item
	for k, v := range values {
		items = append(items, storage.Item{Name: k, Value: v})
	}
	if err := s.Put(ctxT(t), owner, items); err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		sec := mustGet(t, s, owner, k)
		if !bytes.Equal(sec.Value, v) {
			t.Errorf("%s: got %q, want %q", k, sec.Value, v)
		}
		if sec.Version != 1 {
			t.Errorf("%s: version %d, want 1", k, sec.Version)
		}
		if !sec.CreatedAt.Equal(sec.UpdatedAt) {
			t.Errorf("%s: new secret has created %v != updated %v", k, sec.CreatedAt, sec.UpdatedAt)
		}
		sane(t, sec)
	}
	for _, sec := range list(t, s, owner, "") {
		if !bytes.Equal(sec.Value, values[sec.Name]) || sec.Value == nil {
			t.Errorf("List: %s: got %q", sec.Name, sec.Value)
		}
	}
}

// testLargeValue: a value over 1 MiB round-trips through Get, GetMany and
// List, and can be overwritten.
func testLargeValue(t *testing.T, s storage.Store, owner string) {
	big := randomBytes(1<<20 + 4096)
	if err := s.Put(ctxT(t), owner, []storage.Item{{Name: "big", Value: big}, {Name: "small", Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if sec := mustGet(t, s, owner, "big"); !bytes.Equal(sec.Value, big) {
		t.Fatalf("Get: %d bytes back, want the %d written", len(sec.Value), len(big))
	}
	secs, err := s.GetMany(ctxT(t), owner, []string{"big"})
	if err != nil || len(secs) != 1 || !bytes.Equal(secs[0].Value, big) {
		t.Fatalf("GetMany: %d secrets, %v", len(secs), err)
	}
	if l := list(t, s, owner, "b"); len(l) != 1 || !bytes.Equal(l[0].Value, big) {
		t.Fatalf("List: %d secrets", len(l))
	}
	big2 := randomBytes(1 << 20)
	if err := s.Put(ctxT(t), owner, []storage.Item{{Name: "big", Value: big2}}); err != nil {
		t.Fatal(err)
	}
	if sec := mustGet(t, s, owner, "big"); !bytes.Equal(sec.Value, big2) || sec.Version != 2 {
		t.Fatalf("after overwrite: %d bytes, version %d", len(sec.Value), sec.Version)
	}
}

// testNames: names may hold '/', ':', any UTF-8 and be MaxNameLen bytes.
func testNames(t *testing.T, s storage.Store, owner string) {
	long := strings.Repeat("é", storage.MaxNameLen/2) // exactly MaxNameLen bytes
	all := []string{
		"a/b", "a/b/c", "/lead", "trail/", "a:b", "::", "a.b", "a-b",
		"日本語/キー", "emoji🔑", "ünïcödé", "\u00e9", "e\u0301", // é precomposed and decomposed
		"with space", "tab\there", "new\nline", "quote\"s", "back\\slash", "percent%20",
		"\U0010ffff", "\ue000", "\ud7ff", long,
	}
	putNumbered(t, s, owner, all)
	wantList(t, s, owner, "", all...)
	if err := s.Put(ctxT(t), owner, []storage.Item{{Name: long + "x", Value: []byte("v")}}); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("Put of a %d-byte name: %v, want ErrInvalid", len(long)+1, err)
	}
}

// putNumbered puts each of names with its index as its value, in one
// batch, and checks that each reads back as its own.
func putNumbered(t *testing.T, s storage.Store, owner string, names []string) {
	t.Helper()
	var kv []string
	for i, n := range names {
		kv = append(kv, n, fmt.Sprint(i))
	}
	put(t, s, owner, kv...)
	for i, n := range names {
		if sec := mustGet(t, s, owner, n); string(sec.Value) != fmt.Sprint(i) {
			t.Errorf("%+q: got %q, want %d", n, sec.Value, i)
		}
	}
}

func testCaseSensitive(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "key", "lower", "Key", "title", "KEY", "upper", "straße", "s1", "STRASSE", "s2")
	for n, v := range map[string]string{"key": "lower", "Key": "title", "KEY": "upper", "straße": "s1", "STRASSE": "s2"} {
		if got := mustGet(t, s, owner, n); string(got.Value) != v {
			t.Errorf("%q = %q, want %q", n, got.Value, v)
		}
	}
	wantAbsent(t, s, owner, "kEy")
	wantList(t, s, owner, "k", "key")
	wantList(t, s, owner, "K", "Key", "KEY")
	wantList(t, s, owner, "KE", "KEY")
	if err := s.Delete(ctxT(t), owner, []string{"KEY"}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, owner, "key")
	mustGet(t, s, owner, "Key")
}

// testSpacesDistinct: no trimming or padding ("a" ≠ "a " on MySQL too).
func testSpacesDistinct(t *testing.T, s storage.Store, owner string) {
	ns := []string{"a", "a ", "a  ", " a", "a\t", "a\u00a0"}
	putNumbered(t, s, owner, ns)
	wantList(t, s, owner, "a", "a", "a ", "a  ", "a\t", "a\u00a0")
	wantList(t, s, owner, "a ", "a ", "a  ")
	wantAbsent(t, s, owner, "a   ")
	if err := s.Delete(ctxT(t), owner, []string{"a "}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, owner, "a ")
	mustGet(t, s, owner, "a")
	mustGet(t, s, owner, "a  ")
}

func testOverwrite(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "k", "v1", "other", "o")
	first := mustGet(t, s, owner, "k")
	if first.Version != 1 {
		t.Fatalf("version %d after the first write", first.Version)
	}
	time.Sleep(5 * time.Millisecond)
	put(t, s, owner, "k", "v2")
	second := mustGet(t, s, owner, "k")
	if string(second.Value) != "v2" || second.Version != 2 {
		t.Fatalf("after overwrite: %q version %d; want v2 version 2", second.Value, second.Version)
	}
	if !second.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("created_at changed on overwrite: %v -> %v", first.CreatedAt, second.CreatedAt)
	}
	if !second.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("updated_at did not advance: %v -> %v", first.UpdatedAt, second.UpdatedAt)
	}
	put(t, s, owner, "k", "v3", "new", "n")
	if third := mustGet(t, s, owner, "k"); string(third.Value) != "v3" || third.Version != 3 {
		t.Fatalf("after batch overwrite: %q version %d", third.Value, third.Version)
	}
	if o := mustGet(t, s, owner, "other"); o.Version != 1 || string(o.Value) != "o" {
		t.Fatalf("untouched secret changed: %q version %d", o.Value, o.Version)
	}
	if n := mustGet(t, s, owner, "new"); n.Version != 1 {
		t.Fatalf("new secret in a batch: version %d", n.Version)
	}
}

func testNotFound(t *testing.T, s storage.Store, owner string) {
	wantAbsent(t, s, owner, "nothing")
	put(t, s, owner, "here", "x")
	wantAbsent(t, s, owner, "her")
	wantAbsent(t, s, owner, "here ")
	wantAbsent(t, s, owner+"x", "here")
	wantAbsent(t, s, owner, strings.Repeat("x", storage.MaxNameLen+1))
	wantAbsent(t, s, owner, "")
	wantAbsent(t, s, owner, "\xff")
	wantAbsent(t, s, owner, "a\x00b")
	if _, err := s.GetMeta(ctxT(t), Unique("test-meta-")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetMeta of an absent key: %v, want ErrNotFound", err)
	}
	if secs := list(t, s, owner+"-empty", ""); len(secs) != 0 {
		t.Errorf("List of an empty namespace: %d secrets", len(secs))
	}
}

func testGetMany(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "a", "1", "b", "2", "c", "3", "d/e", "4")
	got, err := s.GetMany(ctxT(t), owner, []string{"d/e", "a", "zz", "a", "c", "", "\xff"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); !slices.Equal(n, []string{"a", "c", "d/e"}) {
		t.Fatalf("GetMany = %+q; want [a c d/e]", n)
	}
	for _, sec := range got {
		want := map[string]string{"a": "1", "c": "3", "d/e": "4"}[sec.Name]
		if string(sec.Value) != want {
			t.Errorf("%s = %q", sec.Name, sec.Value)
		}
	}
	if got, err := s.GetMany(ctxT(t), owner, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMany(nil) = %d, %v", len(got), err)
	}
	if got, err := s.GetMany(ctxT(t), owner+"x", []string{"a"}); err != nil || len(got) != 0 {
		t.Errorf("GetMany in another owner = %d, %v", len(got), err)
	}
	// More names than one IN list or HMGET chunk.
	many := make([]string, 0, 1200)
	for i := range 1200 {
		many = append(many, fmt.Sprintf("none-%d", i))
	}
	many = append(many, "b")
	if got, err := s.GetMany(ctxT(t), owner, many); err != nil || len(got) != 1 || got[0].Name != "b" {
		t.Errorf("GetMany of 1201 names = %+q, %v", names(got), err)
	}
}

func testDelete(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "a", "1", "b", "2", "c", "3")
	if err := s.Delete(ctxT(t), owner, []string{"a", "absent", "c", "a"}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, owner, "a")
	wantAbsent(t, s, owner, "c")
	mustGet(t, s, owner, "b")
	wantList(t, s, owner, "", "b")
	if err := s.Delete(ctxT(t), owner, []string{"absent"}); err != nil {
		t.Fatalf("deleting an absent name: %v", err)
	}
	if err := s.Delete(ctxT(t), owner+"-nobody", []string{"b"}); err != nil {
		t.Fatalf("deleting in an empty namespace: %v", err)
	}
	mustGet(t, s, owner, "b")
	// A deleted name starts again at version 1.
	put(t, s, owner, "a", "again")
	if sec := mustGet(t, s, owner, "a"); sec.Version != 1 || string(sec.Value) != "again" {
		t.Errorf("re-created secret: %q version %d", sec.Value, sec.Version)
	}
	// A delete of more names than one statement takes.
	var kv, all []string
	for i := range 1100 {
		n := fmt.Sprintf("bulk/%04d", i)
		kv, all = append(kv, n, "v"), append(all, n)
	}
	put(t, s, owner, kv...)
	if err := s.Delete(ctxT(t), owner, all); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, owner, "bulk/")
}

// testBatchAtomic: a batch with one invalid item writes nothing.
func testBatchAtomic(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "existing", "v1")
	bad := []storage.Item{
		{Name: strings.Repeat("n", storage.MaxNameLen+1)},
		{Name: ""},
		{Name: "nul\x00"},
		{Name: "bad\xffutf8"},
	}
	for _, b := range bad {
		items := []storage.Item{
			{Name: "existing", Value: []byte("v2")},
			{Name: "fresh", Value: []byte("f")},
			b,
			{Name: "zzz", Value: []byte("z")},
		}
		if err := s.Put(ctxT(t), owner, items); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Put with invalid name %.20q: %v; want ErrInvalid", b.Name, err)
		}
	}
	for _, o := range []string{"", "o\x00", "\xff", strings.Repeat("o", storage.MaxNameLen+1)} {
		if err := s.Put(ctxT(t), o, []storage.Item{{Name: "x", Value: []byte("x")}}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Put with invalid owner %.20q: %v; want ErrInvalid", o, err)
		}
	}
	wantAbsent(t, s, owner, "fresh")
	wantAbsent(t, s, owner, "zzz")
	if sec := mustGet(t, s, owner, "existing"); string(sec.Value) != "v1" || sec.Version != 1 {
		t.Errorf("existing secret changed by a refused batch: %q version %d", sec.Value, sec.Version)
	}
	wantList(t, s, owner, "", "existing")
}

// testBatchDuplicates: a name given twice in one batch is written once,
// with the last value.
func testBatchDuplicates(t *testing.T, s storage.Store, owner string) {
	put(t, s, owner, "k", "1", "j", "x", "k", "2", "k", "3")
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "3" || sec.Version != 1 {
		t.Errorf("k = %q version %d; want 3 version 1", sec.Value, sec.Version)
	}
	put(t, s, owner, "k", "4", "k", "5")
	if sec := mustGet(t, s, owner, "k"); string(sec.Value) != "5" || sec.Version != 2 {
		t.Errorf("k = %q version %d; want 5 version 2", sec.Value, sec.Version)
	}
}

func testEmptyInput(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	if err := s.Put(ctx, owner, nil); err != nil {
		t.Errorf("Put(nil): %v", err)
	}
	if err := s.Delete(ctx, owner, nil); err != nil {
		t.Errorf("Delete(nil): %v", err)
	}
	wantList(t, s, owner, "")
	// Reads with names no backend can store find nothing, without error.
	wantList(t, s, owner, "\xff")
	wantList(t, s, owner, "a\x00")
	wantList(t, s, owner, strings.Repeat("p", storage.MaxNameLen+1))
	if err := s.Delete(ctx, owner, []string{"", "\xff", "a\x00"}); err != nil {
		t.Errorf("Delete of unstorable names: %v", err)
	}
}

// testPrefixLiteral: LIKE, GLOB, regex and Redis pattern characters in a
// prefix are plain characters.
func testPrefixLiteral(t *testing.T, s storage.Store, owner string) {
	all := []string{"a%b", "a_b", "axb", "a*b", "a?b", "a[b", "a]b", "a\\b", "a'b", "a\"b", "a.b", "a^b", "a$b",
		"a(b", "a|b", "a+b", "a{b", "a}b", "ab", "aXb", "a", "%", "_", "*", "b%", "\\", "'"}
	var kv []string
	for _, n := range all {
		kv = append(kv, n, n)
	}
	put(t, s, owner, kv...)
	for _, n := range all {
		if len(n) < 2 {
			continue
		}
		p := n[:2] // "a%" etc.
		var want []string
		for _, m := range all {
			if strings.HasPrefix(m, p) {
				want = append(want, m)
			}
		}
		wantList(t, s, owner, p, want...)
	}
	wantList(t, s, owner, "%", "%")
	wantList(t, s, owner, "_", "_")
	wantList(t, s, owner, "*", "*")
	wantList(t, s, owner, "\\", "\\")
	wantList(t, s, owner, "'", "'")
	wantList(t, s, owner, "a%b", "a%b")
	wantList(t, s, owner, "a%bc")
	wantList(t, s, owner, "", all...)
}

// testPrefixMultibyte: the range bound of a prefix ending in a multibyte
// rune, in the last rune before the surrogates, or in U+10FFFF.
func testPrefixMultibyte(t *testing.T, s storage.Store, owner string) {
	all := []string{"e1", "é", "é1", "é2", "é/x", "ê1", "f",
		"\u00bf1", "\u00c0",
		"x\ud7ff", "x\ud7ffa", "x\ue000",
		"y\U0010ffff", "y\U0010ffffz", "z",
		"\U0010ffff", "\U0010ffffa",
		"日本", "日本語", "日朮"}
	var kv []string
	for _, n := range all {
		kv = append(kv, n, "v")
	}
	put(t, s, owner, kv...)
	wantList(t, s, owner, "é", "é", "é1", "é2", "é/x")
	wantList(t, s, owner, "é1", "é1")
	wantList(t, s, owner, "\u00bf", "\u00bf1")
	wantList(t, s, owner, "x\ud7ff", "x\ud7ff", "x\ud7ffa")
	wantList(t, s, owner, "y\U0010ffff", "y\U0010ffff", "y\U0010ffffz")
	wantList(t, s, owner, "y", "y\U0010ffff", "y\U0010ffffz")
	wantList(t, s, owner, "\U0010ffff", "\U0010ffff", "\U0010ffffa")
	wantList(t, s, owner, "日本", "日本", "日本語")
	wantList(t, s, owner, "日", "日本", "日本語", "日朮")
}

// testOwnerIsolation: owners never see each other's secrets, including
// owners that are prefixes of one another or hold separators.
func testOwnerIsolation(t *testing.T, s storage.Store, base string) {
	owners := []string{base + "a", base + "ab", base + "a/", base + "a:", base + "a:names", base + "a}", base + "A", base + "a "}
	for i, o := range owners {
		put(t, s, o, "shared", fmt.Sprint(i), fmt.Sprintf("only%d", i), "x")
	}
	for i, o := range owners {
		if sec := mustGet(t, s, o, "shared"); string(sec.Value) != fmt.Sprint(i) {
			t.Errorf("owner %q sees shared = %q, want %d", o, sec.Value, i)
		}
		wantList(t, s, o, "", "shared", fmt.Sprintf("only%d", i))
		wantList(t, s, o, "only", fmt.Sprintf("only%d", i))
		for j := range owners {
			if j != i {
				wantAbsent(t, s, o, fmt.Sprintf("only%d", j))
			}
		}
	}
	if err := s.Delete(ctxT(t), owners[0], []string{"shared", "only1"}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, owners[0], "shared")
	for i, o := range owners[1:] {
		mustGet(t, s, o, "shared")
		mustGet(t, s, o, fmt.Sprintf("only%d", i+1))
	}
}

// testConcurrentSameKey: 8 writers × 50 writes to one key never error, the
// last value is one that was written, whole, and every write counted.
func testConcurrentSameKey(t *testing.T, s storage.Store, owner string) {
	const writers, writes = 8, 50
	value := func(g, i int) []byte {
		v := bytes.Repeat([]byte{byte('A' + g)}, 2048)
		return append(v, fmt.Sprintf("-%d-%d", g, i)...)
	}
	ctx := ctxT(t)
	errs := make(chan error, writers*writes)
	inParallel(writers, func(g int) {
		for i := range writes {
			if err := s.Put(ctx, owner, []storage.Item{{Name: "hot", Value: value(g, i)}}); err != nil {
				errs <- err
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Put: %v", err)
	}
	sec := mustGet(t, s, owner, "hot")
	var g, i int
	if _, err := fmt.Sscanf(string(sec.Value[2048:]), "-%d-%d", &g, &i); err != nil || !bytes.Equal(sec.Value, value(g, i)) {
		t.Fatalf("final value is not one that was written (torn?): %.40q…", sec.Value)
	}
	if sec.Version != writers*writes {
		t.Errorf("version %d after %d writes", sec.Version, writers*writes)
	}
}

// testConcurrentBatches: overlapping batches in different orders (the
// classic deadlock) all succeed.
func testConcurrentBatches(t *testing.T, s storage.Store, owner string) {
	const writers, rounds, keys = 4, 10, 20
	ctx := ctxT(t)
	errs := make(chan error, 2*writers*rounds)
	inParallel(writers, func(g int) {
		for r := range rounds {
			items := make([]storage.Item, keys)
			for k := range keys {
				idx := k
				if (g+r)%2 == 1 {
					idx = keys - 1 - k
				}
				items[k] = storage.Item{Name: fmt.Sprintf("k%02d", idx), Value: []byte(fmt.Sprintf("%d-%d", g, r))}
			}
			if err := s.Put(ctx, owner, items); err != nil {
				errs <- err
			}
			if r%3 == 0 {
				if err := s.Delete(ctx, owner, []string{fmt.Sprintf("gone%d", g), "k05x"}); err != nil {
					errs <- err
				}
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent batch: %v", err)
	}
	secs := list(t, s, owner, "k")
	if len(secs) != keys {
		t.Fatalf("%d keys, want %d", len(secs), keys)
	}
	for _, l := range secs {
		sec := mustGet(t, s, owner, l.Name)
		if sec.Version != writers*rounds {
			t.Errorf("%s: version %d, want %d", sec.Name, sec.Version, writers*rounds)
		}
	}
}

// testManyKeys: 10,000 keys in one namespace, written in one batch; a
// listing of all and of a small prefix.
func testManyKeys(t *testing.T, s storage.Store, owner string) {
	const n = 10000
	items := make([]storage.Item, n)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("k/%05d", i), Value: []byte(fmt.Sprint(i))}
	}
	if err := s.Put(ctxT(t), owner, items); err != nil {
		t.Fatal(err)
	}
	all := list(t, s, owner, "")
	if len(all) != n {
		t.Fatalf("List all: %d secrets, want %d", len(all), n)
	}
	for i, sec := range all {
		if sec.Name != items[i].Name || string(sec.Value) != fmt.Sprint(i) {
			t.Fatalf("List all [%d] = %s %q", i, sec.Name, sec.Value)
		}
	}
	sub := list(t, s, owner, "k/0123")
	if len(sub) != 10 || sub[0].Name != "k/01230" || sub[9].Name != "k/01239" {
		t.Fatalf("List k/0123 = %+q", names(sub))
	}
	if got := list(t, s, owner, "k/1"); len(got) != 0 {
		t.Fatalf("List k/1 = %d secrets, want 0", len(got))
	}
	if got := list(t, s, owner, "k/0"); len(got) != n {
		t.Fatalf("List k/0 = %d secrets, want %d", len(got), n)
	}
}

func testNonce(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	nonce := owner + "-n1"
	if ok, err := s.UseNonce(ctx, nonce, exp); err != nil || !ok {
		t.Fatalf("first use: %v, %v; want true", ok, err)
	}
	if ok, err := s.UseNonce(ctx, nonce, exp); err != nil || ok {
		t.Fatalf("second use: %v, %v; want false", ok, err)
	}
	if ok, err := s.UseNonce(ctx, owner+"-N1", exp); err != nil || !ok {
		t.Fatalf("nonces are case-sensitive: %v, %v", ok, err)
	}
	if _, err := s.UseNonce(ctx, "", exp); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("empty nonce: %v, want ErrInvalid", err)
	}
	const racers = 16
	var wins atomic.Int32
	inParallel(racers, func(int) {
		ok, err := s.UseNonce(ctx, owner+"-race", exp)
		if err != nil {
			t.Errorf("concurrent UseNonce: %v", err)
		}
		if ok {
			wins.Add(1)
		}
	})
	if wins.Load() != 1 {
		t.Errorf("%d of %d concurrent uses of one nonce succeeded, want exactly 1", wins.Load(), racers)
	}
}

func testIncr(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	key := owner + "-c"
	for i, want := range []int64{1, 5, 5, 15} {
		n := []int64{1, 4, 0, 10}[i]
		got, err := s.Incr(ctx, key, n, exp)
		if err != nil || got != want {
			t.Fatalf("Incr #%d by %d = %d, %v; want %d", i, n, got, err, want)
		}
	}
	// Concurrent increments add up exactly.
	const workers, each = 8, 50
	inParallel(workers, func(int) {
		for range each {
			if _, err := s.Incr(ctx, key+"-race", 1, exp); err != nil {
				t.Errorf("concurrent Incr: %v", err)
				return
			}
		}
	})
	if got, err := s.Incr(ctx, key+"-race", 0, exp); err != nil || got != workers*each {
		t.Errorf("after %d concurrent increments: %d, %v", workers*each, got, err)
	}
	// An expired counter starts again from the increment.
	past := time.Now().Add(-time.Second)
	if got, err := s.Incr(ctx, key+"-exp", 5, past); err != nil || got != 5 {
		t.Fatalf("Incr of a new counter with a past expiry = %d, %v; want 5", got, err)
	}
	if got, err := s.Incr(ctx, key+"-exp", 3, exp); err != nil || got != 3 {
		t.Fatalf("Incr of an expired counter = %d, %v; want 3 (restarted)", got, err)
	}
	if got, err := s.Incr(ctx, key+"-exp", 2, exp.Add(time.Hour)); err != nil || got != 5 {
		t.Fatalf("Incr after restart = %d, %v; want 5", got, err)
	}
	// Short-lived counter expires by the clock.
	short := time.Now().Add(1500 * time.Millisecond)
	if got, err := s.Incr(ctx, key+"-short", 7, short); err != nil || got != 7 {
		t.Fatalf("Incr short = %d, %v", got, err)
	}
	time.Sleep(time.Until(short) + 200*time.Millisecond)
	if got, err := s.Incr(ctx, key+"-short", 1, exp); err != nil || got != 1 {
		t.Fatalf("Incr after expiry = %d, %v; want 1", got, err)
	}
}

func testMeta(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	key := owner + "-meta"
	if _, err := s.GetMeta(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetMeta before init: %v", err)
	}
	first := []byte{0, 1, 2, 0xff, 'x'}
	if got, err := s.InitMeta(ctx, key, first); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("InitMeta = %q, %v", got, err)
	}
	if got, err := s.InitMeta(ctx, key, []byte("second")); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("second InitMeta = %q, %v; want the first value", got, err)
	}
	if got, err := s.GetMeta(ctx, key); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("GetMeta = %q, %v", got, err)
	}
	// Racing initialisers all see one winner.
	race := key + "-race"
	results := make([][]byte, 8)
	inParallel(len(results), func(i int) {
		v, err := s.InitMeta(ctx, race, []byte(fmt.Sprint("v", i)))
		if err != nil {
			t.Errorf("concurrent InitMeta: %v", err)
		}
		results[i] = v
	})
	for _, r := range results[1:] {
		if !bytes.Equal(r, results[0]) {
			t.Fatalf("concurrent InitMeta returned different values: %q", results)
		}
	}
	if got, err := s.GetMeta(ctx, race); err != nil || !bytes.Equal(got, results[0]) {
		t.Fatalf("GetMeta after race = %q, %v; want %q", got, err, results[0])
	}
	// PutMeta replaces; InitMeta then keeps the replacement. It also
	// creates a record that was absent.
	if err := s.PutMeta(ctx, key, []byte("replaced")); err != nil {
		t.Fatalf("PutMeta: %v", err)
	}
	if got, err := s.InitMeta(ctx, key, []byte("third")); err != nil || string(got) != "replaced" {
		t.Fatalf("InitMeta after PutMeta = %q, %v; want replaced", got, err)
	}
	if err := s.PutMeta(ctx, key+"-new", nil); err != nil {
		t.Fatalf("PutMeta of a new key: %v", err)
	}
	if got, err := s.GetMeta(ctx, key+"-new"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetMeta after PutMeta(nil) = %q, %v; want empty", got, err)
	}
	if err := s.PutMeta(ctx, "", []byte("x")); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("PutMeta with an empty key: %v, want ErrInvalid", err)
	}
}

func testSwap(t *testing.T, s storage.Store, owner string) {
	ctx := ctxT(t)
	put(t, s, owner, "k", "v1")
	put(t, s, owner, "k", "v2") // version 2
	before := mustGet(t, s, owner, "k")
	if ok, err := s.Swap(ctx, owner, "k", []byte("v2"), []byte("sealed")); err != nil || !ok {
		t.Fatalf("Swap of the current value = %v, %v; want true", ok, err)
	}
	after := mustGet(t, s, owner, "k")
	if string(after.Value) != "sealed" || after.Version != before.Version {
		t.Fatalf("after Swap: %q version %d; want sealed version %d", after.Value, after.Version, before.Version)
	}
	if !after.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("Swap changed created_at")
	}
	if ok, err := s.Swap(ctx, owner, "k", []byte("v2"), []byte("other")); err != nil || ok {
		t.Fatalf("Swap with a stale old value = %v, %v; want false", ok, err)
	}
	if got := mustGet(t, s, owner, "k"); string(got.Value) != "sealed" {
		t.Fatalf("stale Swap wrote %q", got.Value)
	}
	if ok, err := s.Swap(ctx, owner, "k", []byte("sealed"), []byte("sealed")); err != nil || !ok {
		t.Fatalf("Swap to the same value = %v, %v; want true", ok, err)
	}
	if ok, err := s.Swap(ctx, owner, "absent", []byte{}, []byte("x")); err != nil || ok {
		t.Fatalf("Swap of an absent secret = %v, %v; want false", ok, err)
	}
	wantAbsent(t, s, owner, "absent")
	if ok, err := s.Swap(ctx, owner+"x", "k", []byte("sealed"), []byte("x")); err != nil || ok {
		t.Fatalf("Swap in another owner = %v, %v; want false", ok, err)
	}
	// Binary values, one a prefix of the other.
	put(t, s, owner, "b", "\x00\x01")
	if ok, err := s.Swap(ctx, owner, "b", []byte("\x00"), []byte("x")); err != nil || ok {
		t.Fatalf("Swap with a prefix of the value = %v, %v; want false", ok, err)
	}
	if ok, err := s.Swap(ctx, owner, "b", []byte("\x00\x01"), []byte{}); err != nil || !ok {
		t.Fatalf("Swap to empty = %v, %v; want true", ok, err)
	}
	if got := mustGet(t, s, owner, "b"); len(got.Value) != 0 || got.Version != 1 {
		t.Fatalf("after Swap to empty: %q version %d", got.Value, got.Version)
	}
}

func testWalk(t *testing.T, s storage.Store, base string) {
	want := map[string]string{}
	for oi, o := range []string{base + "-1", base + "-2", base + "-3"} {
		n := []int{3, 250, 1}[oi]
		var kv []string
		for i := range n {
			name := fmt.Sprintf("w/%03d", i)
			kv = append(kv, name, o+name)
			want[o+"\x00"+name] = o + name
		}
		put(t, s, o, kv...)
	}
	got := map[string]string{}
	err := s.Walk(ctxT(t), func(owner string, sec storage.Secret) error {
		if strings.HasPrefix(owner, base+"-") {
			k := owner + "\x00" + sec.Name
			if _, dup := got[k]; dup {
				t.Errorf("Walk visited %q %q twice", owner, sec.Name)
			}
			got[k] = string(sec.Value)
			if sec.Version != 1 || sec.CreatedAt.IsZero() {
				t.Errorf("Walk: %q %q version %d created %v", owner, sec.Name, sec.Version, sec.CreatedAt)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk visited %d of our %d secrets", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Walk: %q = %q, want %q", k, got[k], v)
		}
	}
	// An error from fn stops the walk and comes back.
	stop := errors.New("stop")
	calls := 0
	err = s.Walk(ctxT(t), func(string, storage.Secret) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk with a failing fn: %v after %d calls; want stop after 1", err, calls)
	}
	// fn may write (rekey does).
	err = s.Walk(ctxT(t), func(owner string, sec storage.Secret) error {
		if owner != base+"-1" {
			return nil
		}
		_, err := s.Swap(ctxT(t), owner, sec.Name, sec.Value, append([]byte("re:"), sec.Value...))
		return err
	})
	if err != nil {
		t.Fatalf("Walk with writes: %v", err)
	}
	for _, sec := range list(t, s, base+"-1", "") {
		if !strings.HasPrefix(string(sec.Value), "re:") || strings.HasPrefix(string(sec.Value), "re:re:") {
			t.Errorf("rewritten in Walk: %q = %q", sec.Name, sec.Value)
		}
	}
}

func testPing(t *testing.T, s storage.Store, _ string) {
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func testCanceledContext(t *testing.T, s storage.Store, owner string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, owner, "k"); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get with a canceled context: %v; want a context error", err)
	}
	if err := s.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte("v")}}); err == nil {
		t.Errorf("Put with a canceled context succeeded")
	}
}
