package e2e_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	stack "github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// TestInterruptedRekey: a rekey killed half-way (SIGKILL) leaves values
// that only the new key opens, so serve with the old key alone refuses to
// start and says what to do; with both keys it serves every value, and a
// rerun of rekey finishes the job.
func TestInterruptedRekey(t *testing.T) {
	const n = 20000
	uri := "sqlite://" + filepath.Join(t.TempDir(), "rekey.sqlite")
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	cfg := func(keys string) map[string]string {
		c := testserver.Config(uri)
		c["MASTER_KEY"] = keys
		// One POST writes all n (a version each): on a loaded CI machine
		// that took longer than the default 10s.
		c["STORE_TIMEOUT"] = "2m"
		c["QUOTA_SECRETS"] = "0" // 20,000 keys, over the default
		return c
	}
	w := authtest.NewWallet()
	srv, a, tok := startSignedIn(t, cfg(oldKey), w)
	batch := map[string]string{}
	for i := range n {
		batch[fmt.Sprintf("k%05d", i)] = fmt.Sprintf("value-%d", i)
	}
	a.expect(a.do("POST", "/secrets", tok, map[string]any{"secrets": batch}), 200, "", "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	ring := mustRing(t, newKey)
	newID := ring.ActiveID()
	ctx := context.Background()
	raw, err := stack.OpenBackend(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resealed := func() int {
		c := 0
		err := raw.Walk(ctx, func(_ string, s storage.Secret) error {
			if len(s.Value) > 5 && hex.EncodeToString(s.Value[1:5]) == newID {
				c++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Once rekey has read the store (it says how many values are stale),
	// run it in slices, stopped (SIGSTOP) between them so that what it has
	// resealed can be counted exactly; kill it once it has begun.
	rekey := exec.Command(testserver.Binary(t), "rekey")
	rekey.Env = testserver.Env(t, cfg(newKey+","+oldKey))
	progress, err := rekey.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rekey.Start(); err != nil {
		t.Fatal(err)
	}
	counted := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(progress)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "sealed with an older key") {
				_ = rekey.Process.Signal(syscall.SIGSTOP)
				close(counted)
				break
			}
		}
		_, _ = io.Copy(io.Discard, progress)
		_ = rekey.Wait()
		close(exited)
	}()
	select {
	case <-counted:
	case <-exited:
		t.Fatal("rekey exited before reading the store")
	case <-time.After(60 * time.Second):
		t.Fatal("rekey did not read the store in 60s")
	}
	for resealed() == 0 {
		select {
		case <-exited:
			t.Fatal("rekey exited before resealing anything")
		default:
		}
		_ = rekey.Process.Signal(syscall.SIGCONT)
		time.Sleep(time.Millisecond) // one slice of its run
		_ = rekey.Process.Signal(syscall.SIGSTOP)
	}
	_ = rekey.Process.Signal(syscall.SIGKILL)
	<-exited
	if got := resealed(); got == 0 || got >= n {
		t.Fatalf("after the kill %d of %d values are resealed: the rekey was not interrupted half-way", got, n)
	} else {
		t.Logf("rekey killed after resealing %d of %d values", got, n)
	}

	// The old key alone: refused, with what to do.
	code, stderr := testserver.StartFail(t, cfg(oldKey))
	last := lastLine(stderr)
	if code == 0 || !strings.Contains(last, "rerun `nosana-secrets rekey`") || !strings.Contains(last, newID) {
		t.Fatalf("old key alone after an interrupted rekey: exit %d: %s", code, last)
	}
	if strings.Contains(stderr, oldKey) || strings.Contains(stderr, newKey) {
		t.Fatal("a master key is printed")
	}

	// Both keys: every value reads.
	srv = testserver.Start(t, cfg(newKey+","+oldKey))
	a = api{t, srv.URL}
	r := a.do("GET", "/secrets", a.login(w), nil)
	var all map[string]string
	if err := json.Unmarshal(r.body, &all); err != nil || len(all) != n || all["k00042"] != "value-42" {
		t.Fatalf("with both keys: %d, %d values (%v)", r.status, len(all), err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// A rerun finishes; then the new key alone serves, the old alone not.
	runRekey(t, cfg(newKey+","+oldKey)) // a rerun
	srv = testserver.Start(t, cfg(newKey))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, _ := testserver.StartFail(t, cfg(oldKey)); code == 0 {
		t.Error("the retired key opens the store after the rekey")
	}
}

// TestRekeyKeepsOldVersionsReadable: versions written with key A, a name
// soft-deleted and one written by the legacy route, then rekey to B: every
// kept version below the seal layer is sealed with B, and serve with B
// alone reads each old version through v1.
func TestRekeyKeepsOldVersionsReadable(t *testing.T) {
	uri := "sqlite://" + filepath.Join(t.TempDir(), "rekey-versions.sqlite")
	keyA, keyB := seal.NewKey(), seal.NewKey()
	cfg := func(keys string) map[string]string {
		c := testserver.Config(uri)
		c["MASTER_KEY"] = keys
		return c
	}
	w := authtest.NewWallet()
	srv, a, tok := startSignedIn(t, cfg(keyA), w)
	want := map[string][]string{ // name → value of version 1, 2, …; "" a tombstone
		"k":    {`"one"`, `"two"`, `"three"`},
		"gone": {`{"a":1}`, ``},
		"old":  {`"legacy"`, `"legacy two"`},
	}
	for _, v := range want["k"] {
		a.expect(a.do("PUT", "/v1/secrets/k", tok, map[string]any{"value": json.RawMessage(v)}), 200, "", "")
	}
	a.expect(a.do("PUT", "/v1/secrets/gone", tok, map[string]any{"value": json.RawMessage(want["gone"][0])}), 200, "", "")
	a.expect(a.do("DELETE", "/v1/secrets/gone", tok, nil), 200, "", "")
	for _, v := range want["old"] {
		a.expect(a.do("POST", "/secrets", tok, map[string]any{"secrets": map[string]json.RawMessage{"old": json.RawMessage(v)}}), 200, "", "")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	out := runRekey(t, cfg(keyB+","+keyA))
	if !strings.Contains(out, "6 kept versions, 3 and 6 sealed with an older key") {
		t.Errorf("rekey's count of versions:\n%s", out)
	}

	ctx := context.Background()
	raw, err := stack.OpenBackend(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	ringB := mustRing(t, keyB)
	walkedValues := 0
	err = raw.WalkVersions(ctx, func(owner string, v storage.Version) error {
		if owner != w.Addr || v.Deleted {
			return nil
		}
		walkedValues++
		if id := hex.EncodeToString(v.Value[1:5]); id != ringB.ActiveID() {
			t.Errorf("version %d of %q is sealed with key id %s after the rekey, not the new %s", v.Version, v.Name, id, ringB.ActiveID())
		}
		return nil
	})
	raw.Close()
	if err != nil || walkedValues != 6 {
		t.Fatalf("walked %d versions with values (want 6): %v", walkedValues, err)
	}

	_, a, tok = startSignedIn(t, cfg(keyB), w)
	for name, vs := range want {
		for i, v := range vs {
			r := a.do("GET", fmt.Sprintf("/v1/secrets/%s?version=%d", name, i+1), tok, nil)
			if v == "" {
				continue // a tombstone has no value to read
			}
			var got struct{ Value json.RawMessage }
			if r.status != 200 || json.Unmarshal(r.body, &got) != nil || string(got.Value) != v {
				t.Errorf("version %d of %q with the new key alone: %d %s, want %s", i+1, name, r.status, r.body, v)
			}
		}
	}
}

func mustKeys(t *testing.T, s string) [][]byte {
	t.Helper()
	keys, err := seal.ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// mustRing is the keyring of the master keys s (as MASTER_KEY lists them).
func mustRing(t *testing.T, s string) *seal.Keyring {
	t.Helper()
	kr, err := seal.New(mustKeys(t, s)...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
