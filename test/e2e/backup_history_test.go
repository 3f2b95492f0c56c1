package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	storagebackends "github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// history is one owner's kept versions (values sealed, as stored) and
// audit log, read below the seal layer.
type history struct {
	versions []string
	events   []string
	head     audit.Head
}

func historyOf(t *testing.T, s storage.Store, owner string) history {
	t.Helper()
	ctx := context.Background()
	var h history
	err := s.WalkVersions(ctx, func(o string, v storage.Version) error {
		if o == owner {
			h.versions = append(h.versions, fmt.Sprintf("%s v%d deleted=%v %s by %s/%s %x",
				v.Name, v.Version, v.Deleted, v.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), v.By.Address, v.By.Job, v.Value))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	log, err := storage.ReadAudit(ctx, s, owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		h.events = append(h.events, fmt.Sprintf("%d %s %s", e.Seq, e.Action, e.Hash))
	}
	if h.head, err = audit.Verify(log); err != nil {
		t.Fatalf("the audit log of %s does not verify: %v", owner, err)
	}
	return h
}

func historyAt(t *testing.T, uri, owner string) history {
	t.Helper()
	s, err := storagebackends.OpenBackend(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return historyOf(t, s, owner)
}

func sameHistory(t *testing.T, where string, got, want history) {
	t.Helper()
	if strings.Join(got.versions, "\n") != strings.Join(want.versions, "\n") {
		t.Errorf("versions in %s:\n%s\nwant:\n%s", where, strings.Join(got.versions, "\n"), strings.Join(want.versions, "\n"))
	}
	if strings.Join(got.events, "\n") != strings.Join(want.events, "\n") || got.head != want.head {
		t.Errorf("audit log in %s: head %+v, want %+v\n%s\nwant:\n%s", where, got.head, want.head,
			strings.Join(got.events, "\n"), strings.Join(want.events, "\n"))
	}
}

// auditVerify runs `audit verify [args]` as w against endpoint and returns
// the head it prints.
func auditVerify(t *testing.T, w authtest.Wallet, endpoint string, args ...string) string {
	t.Helper()
	code, out, stderr := auditVerifyRun(t, w, endpoint, args...)
	head := regexp.MustCompile(`(?m)^head (\d+:[0-9a-f]{64})$`).FindStringSubmatch(out)
	if code != 0 || head == nil {
		t.Fatalf("audit verify: exit %d %s\n%s", code, out, stderr)
	}
	return head[1]
}

// TestBackupRestoreHistory: a backup of a store with history carries every
// kept version (tombstones, soft-deleted keys, legacy writes) and every
// audit event; restored into an empty PostgreSQL and into memory, the
// versions come back with their numbers, times and writers, and the audit
// log verifies (`audit verify`) to the same head. A restore over the
// namespace (--merge) keeps the store's own history.
func TestBackupRestoreHistory(t *testing.T) {
	from := "sqlite://" + filepath.Join(t.TempDir(), "history.sqlite")
	w := authtest.NewWallet()
	srv, a, tok := startSignedIn(t, testserver.Config(from), w)
	for _, v := range []string{`"one"`, `"two"`, `{"three":3}`} {
		a.expect(a.do("PUT", "/v1/secrets/k", tok, map[string]any{"value": json.RawMessage(v)}), 200, "", "")
	}
	a.expect(a.do("PUT", "/v1/secrets/gone", tok, map[string]any{"value": "bye"}), 200, "", "")
	a.expect(a.do("DELETE", "/v1/secrets/gone", tok, nil), 200, "", "")
	for _, v := range []string{"legacy", "legacy two"} {
		a.expect(a.do("POST", "/secrets", tok, map[string]any{"secrets": map[string]string{"old": v}}), 200, "", "")
	}
	a.expect(a.do("GET", "/secrets/k", tok, nil), 200, "", "")
	head := auditVerify(t, w, srv.URL)
	if err := srv.Stop(); err != nil { // flushes the read events
		t.Fatal(err)
	}
	want := historyAt(t, from, w.Addr)
	if len(want.versions) != 7 || len(want.events) < 8 {
		t.Fatalf("the source holds %d versions and %d events:\n%s", len(want.versions), len(want.events), strings.Join(want.versions, "\n"))
	}

	file := filepath.Join(t.TempDir(), "history.backup")
	code, _, stderr := cli(t, testserver.Config(from), nil, "backup", file)
	if code != 0 || !strings.Contains(stderr, "7 versions") {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	backupFile, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var header struct{ Version, Versions, Events int }
	if err := json.Unmarshal(backupFile[:bytes.IndexByte(backupFile, '\n')], &header); err != nil ||
		header.Version != 3 || header.Versions != 7 || header.Events != len(want.events) {
		t.Fatalf("backup header %+v, %v", header, err)
	}

	// asVersion2 is the backup as a file of format version 2 (no MAC
	// key; a bare checksum) with body edited by edit.
	asVersion2 := func(edit func(string) string) []byte {
		lines := strings.SplitAfter(strings.TrimSuffix(string(backupFile), "\n"), "\n")
		body := regexp.MustCompile(`"version":3,(.*)"mac_key":"[0-9a-f]+",`).ReplaceAllString(strings.Join(lines[:len(lines)-1], ""), `"version":2,$1`)
		body = edit(body)
		var tr map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tr); err != nil {
			t.Fatal(err)
		}
		delete(tr, "hmac_sha256")
		tr["sha256"] = fmt.Sprintf("%x", sha256.Sum256([]byte(body)))
		end, _ := json.Marshal(tr)
		return []byte(body + string(end) + "\n")
	}

	t.Run("version 2", func(t *testing.T) {
		// A file of the format before the MAC restores, and says that
		// nothing authenticates it.
		to := "sqlite://" + filepath.Join(t.TempDir(), "v2.sqlite")
		v2 := asVersion2(func(s string) string { return s })
		// Without --allow-unauthenticated it is refused: a file rewritten
		// in the old format must not slip past the MAC.
		if code, _, stderr := cli(t, testserver.Config(to), v2, "restore", "--create", "-"); code != 1 ||
			!strings.Contains(stderr, "--allow-unauthenticated") || len(snapshot(t, to)) != 0 {
			t.Fatalf("a version 2 file without --allow-unauthenticated: exit %d\n%s", code, stderr)
		}
		code, out, stderr := cli(t, testserver.Config(to), v2, "restore", "--create", "--allow-unauthenticated", "-")
		warning := "restore: warning: - is a backup of format version 2, whose checksum has no key: it is not authenticated " +
			"(whoever could edit the file could have); restoring it as --allow-unauthenticated asks\n"
		if code != 0 || said(stderr) != warning || !strings.Contains(out, "7 versions") {
			t.Fatalf("restore of a version 2 file: exit %d %s\n%q\nwant\n%q", code, out, stderr, warning)
		}
		sameHistory(t, "a restored version 2 file", historyAt(t, to, w.Addr), want)
	})

	t.Run("forged audit log", func(t *testing.T) {
		// An event of a version 2 file (no MAC) edited and its checksum
		// recomputed: the chain still gives it away, and nothing is written.
		forged := asVersion2(func(body string) string {
			i := strings.Index(body, `"action":"read"`)
			if i < 0 {
				t.Fatal("no read event in the backup")
			}
			return body[:i] + `"action":"list"` + body[i+len(`"action":"read"`):]
		})
		to := "sqlite://" + filepath.Join(t.TempDir(), "forged.sqlite")
		code, _, stderr := cli(t, testserver.Config(to), forged, "restore", "--create", "--allow-unauthenticated", "-")
		if code != 1 || !strings.Contains(stderr, "does not verify") {
			t.Fatalf("restore of a forged log: exit %d\n%s", code, stderr)
		}
		if n := len(snapshot(t, to)); n != 0 {
			t.Errorf("%d records written", n)
		}
	})

	t.Run("forged audit log, version 3", func(t *testing.T) {
		// The same edit of a version 3 file: its MAC refuses it first.
		lines := strings.SplitAfter(strings.TrimSuffix(string(backupFile), "\n"), "\n")
		body := strings.Join(lines[:len(lines)-1], "")
		i := strings.Index(body, `"action":"read"`)
		if i < 0 {
			t.Fatal("no read event in the backup")
		}
		body = body[:i] + `"action":"list"` + body[i+len(`"action":"read"`):]
		var tr map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tr); err != nil {
			t.Fatal(err)
		}
		tr["hmac_sha256"] = fmt.Sprintf("%x", sha256.Sum256([]byte(body)))
		end, _ := json.Marshal(tr)
		to := "sqlite://" + filepath.Join(t.TempDir(), "forged.sqlite")
		code, _, stderr := cli(t, testserver.Config(to), []byte(body+string(end)+"\n"), "restore", "--create", "-")
		if code != 1 || !strings.Contains(stderr, "MAC does not match") {
			t.Fatalf("restore of a forged log: exit %d\n%s", code, stderr)
		}
		if n := len(snapshot(t, to)); n != 0 {
			t.Errorf("%d records written", n)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		to := emptyStore(t, "postgres")
		env := testserver.Config(to)
		if code, out, stderr := cli(t, env, nil, "restore", "--create", file); code != 0 || !strings.Contains(out, "7 versions") {
			t.Fatalf("restore: exit %d %s\n%s", code, out, stderr)
		}
		sameHistory(t, "PostgreSQL", historyAt(t, to, w.Addr), want)
		srv := testserver.Start(t, env)
		a := api{t, srv.URL}
		// The head noted before the backup is in the restored chain.
		auditVerify(t, w, srv.URL, "--head", head)
		// Reading through the restored server: every old version.
		tok := a.login(w)
		for path, want := range map[string]string{
			"/v1/secrets/k?version=1":    `"one"`,
			"/v1/secrets/gone?version=1": `"bye"`,
			"/v1/secrets/old?version=1":  `"legacy"`,
			"/v1/secrets/old":            `"legacy two"`,
		} {
			r := a.do("GET", path, tok, nil)
			var got struct{ Value json.RawMessage }
			if r.status != 200 || json.Unmarshal(r.body, &got) != nil || string(got.Value) != want {
				t.Errorf("GET %s after the restore: %d %s, want %s", path, r.status, r.body, want)
			}
		}
		if r := a.do("GET", "/v1/secrets/gone", tok, nil); r.status != 404 || !strings.Contains(string(r.body), "secret_deleted") {
			t.Errorf("a soft-deleted key after the restore: %d %s", r.status, r.body)
		}
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		// The log the restored server verified is the backed-up one, with the
		// events of this session (a login, the reads) after it.
		after := historyAt(t, to, w.Addr)
		if len(after.events) <= len(want.events) || strings.Join(after.events[:len(want.events)], "\n") != strings.Join(want.events, "\n") {
			t.Errorf("the restored log does not continue the backed-up one:\n%s", strings.Join(after.events, "\n"))
		}

		// Into the same namespace again: --merge finds the keys as the
		// file has them and adds nothing; the log, which went on, stays.
		code, out, stderr := cli(t, env, nil, "restore", "--merge", file)
		if code != 0 || !strings.Contains(out, "restored 0 secrets, 0 versions and 0 audit events of 1 owners") ||
			said(stderr) != "restore: 3 keys and 0 audit logs were in the store already, as the file has them\n"+
				"restore: 0 keys and 1 audit logs the store held already kept their own history; those keys got the file's value as their newest\n" {
			t.Fatalf("restore --merge: exit %d %s\n%s", code, out, stderr)
		}
		merged := historyAt(t, to, w.Addr)
		if strings.Join(merged.events, "\n") != strings.Join(after.events, "\n") {
			t.Error("restore --merge changed the store's audit log")
		}
		if strings.Join(merged.versions, "\n") != strings.Join(after.versions, "\n") {
			t.Errorf("restore --merge changed kept versions:\n%s\nwant:\n%s", strings.Join(merged.versions, "\n"), strings.Join(after.versions, "\n"))
		}
	})

	t.Run("memory", func(t *testing.T) {
		m := newMemoryStore(t)
		m.restore(t, backupFile)
		st, err := m.f.BindStore(nil)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sameHistory(t, "memory", historyOf(t, st.Plain.Lower(), w.Addr), want)
		// A backup of the memory copy holds the same versions and events.
		again := m.backup(t)
		if got, want := historyLines(t, again), historyLines(t, backupFile); got != want {
			t.Errorf("the backup of the memory copy differs:\n%s\nwant:\n%s", got, want)
		}
	})
}

// historyLines are a backup's version and audit lines.
func historyLines(t *testing.T, backup []byte) string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(backup))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"kind":`)) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}
