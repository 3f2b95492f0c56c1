package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
)

// TestMasterKeyRotation: a store sealed with one key refuses another,
// serves with the new key plus the old, and after rekey needs only the new.
func TestMasterKeyRotation(t *testing.T) {
	uri := "sqlite://" + filepath.Join(t.TempDir(), "rot.sqlite")
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	cfg := func(keys string) map[string]string {
		c := testserver.Config(uri)
		c["MASTER_KEY"] = keys
		return c
	}
	w := authtest.NewWallet()
	srv, a, tok := startSignedIn(t, cfg(oldKey), w)
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"a":"one","b":[2],"c":{"three":3}}}`), 200, "", "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// The wrong key is refused at start, naming key ids, never key bytes.
	code, stderr := testserver.StartFail(t, cfg(newKey))
	if code == 0 || !strings.Contains(stderr, "master key does not open this store") {
		t.Fatalf("wrong key: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, newKey) || strings.Contains(stderr, oldKey) {
		t.Fatal("a master key is printed")
	}

	// New key first, old second: old values read, new writes use the new key.
	srv, a, tok = startSignedIn(t, cfg(newKey+","+oldKey), w)
	if r := a.do("GET", "/secrets/a", tok, nil); string(r.body) != `"one"` {
		t.Fatalf("old value under the rotated ring: %d %s", r.status, r.body)
	}
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"d":"four"}}`), 200, "", "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// rekey reseals the rest, with progress on stderr.
	out := runRekey(t, cfg(newKey+","+oldKey))
	if !strings.Contains(out, "done: 4 resealed") {
		t.Errorf("rekey output:\n%s", out)
	}
	// Now the new key alone opens everything; the old alone is refused.
	_, a, tok = startSignedIn(t, cfg(newKey), w)
	if r := a.do("GET", "/secrets", tok, nil); string(r.body) != `{"a":"one","b":[2],"c":{"three":3},"d":"four"}` {
		t.Errorf("after rekey: %d %s", r.status, r.body)
	}
	if code, _ := testserver.StartFail(t, cfg(oldKey)); code == 0 {
		t.Error("the retired key still opens the store")
	}
}

// TestSQLiteKeyFileAndLock: with no MASTER_KEY an sqlite store gets a 0600
// key file beside it, and a second server on the same file is refused.
func TestSQLiteKeyFileAndLock(t *testing.T) {
	dir := t.TempDir()
	cfg := testserver.Config("sqlite://" + filepath.Join(dir, "db.sqlite"))
	delete(cfg, "MASTER_KEY")
	srv := testserver.Start(t, cfg)
	fi, err := os.Stat(filepath.Join(dir, "db.sqlite.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	code, stderr := testserver.StartFail(t, cfg)
	if code == 0 || !strings.Contains(lastLine(stderr), "another nosana-secrets process is using") {
		t.Fatalf("second server on one sqlite file: exit %d\n%s", code, stderr)
	}
	a := api{t, srv.URL}
	w := authtest.NewWallet()
	tok := a.login(w)
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"k":"v"}}`), 200, "", "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// The key file is reused on the next start.
	srv = testserver.Start(t, cfg)
	a = api{t, srv.URL}
	if r := a.do("GET", "/secrets/k", a.login(w), nil); string(r.body) != `"v"` {
		t.Errorf("after restart: %s", r.body)
	}
}

// TestNetworkStoreNeedsAMasterKey: a network backend without a key refuses
// to start and says how to make one.
func TestNetworkStoreNeedsAMasterKey(t *testing.T) {
	for _, b := range backends[1:] {
		t.Run(b.name, func(t *testing.T) {
			cfg := testserver.Config(b.uri(t))
			delete(cfg, "MASTER_KEY")
			code, stderr := testserver.StartFail(t, cfg)
			last := lastLine(stderr)
			if code == 0 || !strings.Contains(last, "MASTER_KEY is required") || !strings.Contains(last, "/dev/urandom") {
				t.Errorf("exit %d: %s", code, last)
			}
		})
	}
}
