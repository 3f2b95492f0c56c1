package e2e_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
)

// The five backends the original server ran on, each with a fixture.
var originals = []string{"sqlite", "postgres", "mysql", "redis", "mongodb"}

// TestMigrateFixtures imports each database the original server wrote,
// through the real binary, then serves the result and reads it back as
// the wallets over HTTP. A second run changes nothing.
func TestMigrateFixtures(t *testing.T) {
	f := loadFixture(t)
	for _, backend := range originals {
		t.Run(backend, func(t *testing.T) {
			src := loadOriginal(t, f, backend)
			target := "sqlite://" + filepath.Join(t.TempDir(), "new.sqlite")
			env := testserver.Config(target)

			s, code, stderr := runMigrate(t, env, src)
			f.checkSummary(t, s, 2, code, stderr)
			if s.Imported != f.wantCount(backend) {
				t.Errorf("imported %d, want %d", s.Imported, f.wantCount(backend))
			}
			before := snapshot(t, target)

			s, code, stderr = runMigrate(t, env, src)
			f.checkSummary(t, s, 2, code, stderr)
			if s.Imported != 0 || s.Existing != f.wantCount(backend) {
				t.Errorf("second run: imported %d, already there %d; want 0 and %d", s.Imported, s.Existing, f.wantCount(backend))
			}
			if after := snapshot(t, target); !equalMaps(before, after) {
				t.Errorf("the second run changed the store")
			}
			f.checkServed(t, backend, env)
		})
	}
}

func (f *fixture) wantCount(backend string) int64 {
	var n int64
	for _, addr := range f.Wallets {
		n += int64(len(f.want(backend, addr)))
	}
	return n
}

// checkSummary: the only refusal is wallet A's empty name, which this
// server cannot store; so migrate exits 1.
func (f *fixture) checkSummary(t *testing.T, s summary, owners, code int, stderr string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit %d, want 1 (one refusal); stderr:\n%s", code, stderr)
	}
	if s.Refused != 1 || len(s.Refusals) != 1 || s.Refusals[0].Owner != f.Wallets["A"] || s.Refusals[0].Name != "" ||
		!strings.Contains(s.Refusals[0].Reason, "empty") {
		t.Errorf("refusals %d %+v, want A's empty name", s.Refused, s.Refusals)
	}
	if s.Owners != owners || s.Expired != 0 || s.Read != s.Imported+s.Existing+s.Refused {
		t.Errorf("summary %+v: want %d owners, every record counted once", s, owners)
	}
	if strings.Contains(stderr, "hello world") || strings.Contains(stderr, "v3-final") {
		t.Errorf("a value reached stderr:\n%s", stderr)
	}
}

// checkServed logs in as each wallet and compares every secret, listed and
// read one by one, with what the fixture says it holds.
func (f *fixture) checkServed(t *testing.T, backend string, env map[string]string) {
	t.Helper()
	srv := testserver.Start(t, env)
	a := api{t, srv.URL}
	for _, name := range []string{"A", "B", "C"} {
		w := f.wallet(t, name)
		want := f.want(backend, w.Addr)
		tok := a.login(w)
		r := a.do("GET", "/secrets", tok, nil)
		a.expect(r, 200, "", "")
		var got map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("%s: listing %q: %v", name, r.body, err)
		}
		if len(got) != len(want) {
			t.Errorf("%s lists %d secrets, want %d: %v", name, len(got), len(want), diffKeys(got, want))
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || !sameJSON(g, v) {
				t.Errorf("%s %q: listed %s, want %s", name, k, clip(g), clip(v))
			}
			r := a.do("GET", "/secrets/"+url.PathEscape(k), tok, nil)
			if r.status != 200 || !sameJSON(r.body, v) {
				t.Errorf("%s GET %q: %d %s, want %s", name, k, r.status, clip(r.body), clip(v))
			}
		}
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

func diffKeys(got, want map[string]json.RawMessage) string {
	var extra, missing []string
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	return fmt.Sprintf("extra %q, missing %q", extra, missing)
}

// snapshot is every row of an sqlite store, sealed value and bookkeeping.
func snapshot(t *testing.T, uri string) map[string]string {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	err = s.Walk(context.Background(), func(owner string, sec storage.Secret) error {
		out[owner+"\x00"+sec.Name] = fmt.Sprintf("%x %d %v %v", sec.Value, sec.Version, sec.CreatedAt, sec.UpdatedAt)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMigrateKilledHalfway kills migrate with SIGKILL in the middle of an
// import and runs it again: the result is what one whole run gives.
func TestMigrateKilledHalfway(t *testing.T) {
	f := loadFixture(t)
	src := loadSQLite(t, f)
	// Pad the original with one more wallet's records, so there is a
	// middle to kill it in.
	pad := authtest.NewWallet().Addr
	const padN = 20000
	db, err := sql.Open("sqlite", strings.TrimPrefix(src, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	for i := range padN {
		if _, err := tx.Exec(`INSERT INTO keyv(key, value) VALUES (?, ?)`,
			fmt.Sprintf("%s:pad-%05d", pad, i), fmt.Sprintf(`{"value":"pad-%05d","expires":null}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	target := "sqlite://" + filepath.Join(t.TempDir(), "new.sqlite")
	env := testserver.Config(target)
	cmd := exec.Command(testserver.Binary(t), "migrate", "--create", "--from", src, "--batch", "20", "--progress-interval", "0")
	cmd.Env = testserver.Env(t, env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for batches := 0; batches < 10 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "migrate: ") {
			batches++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("migrate ended before the kill: %v", cmd.ProcessState)
	}
	total := f.wantCount("sqlite") + padN
	half := int64(len(snapshot(t, target)))
	if half <= 0 || half >= total {
		t.Fatalf("killed with %d of %d secrets written: not half-way", half, total)
	}

	s, code, stderrText := runMigrate(t, env, src)
	f.checkSummary(t, s, 3, code, stderrText)
	if s.Imported+s.Existing != total || s.Existing < half {
		t.Errorf("re-run: imported %d, already there %d; want %d in all, at least %d there", s.Imported, s.Existing, total, half)
	}
	f.checkServed(t, "sqlite", env)
	// Every padding secret is there, whole: it opens to its value.
	st, err := sqlstore.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr := mustRing(t, testserver.TestMasterKey)
	// Walk, not List: a listing need not carry versions.
	var got []storage.Secret
	err = st.Walk(context.Background(), func(owner string, sec storage.Secret) error {
		if owner == pad {
			got = append(got, sec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b storage.Secret) int { return strings.Compare(a.Name, b.Name) })
	if len(got) != padN {
		t.Fatalf("%d padding secrets, want %d", len(got), padN)
	}
	for i, sec := range got {
		pt, err := kr.Open(pad, sec.Name, sec.Value)
		if err != nil || string(pt) != fmt.Sprintf(`"pad-%05d"`, i) || sec.Version != 1 {
			t.Fatalf("padding %q: %q %v version %d", sec.Name, pt, err, sec.Version)
		}
	}
}
