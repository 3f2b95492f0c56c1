package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/restore"
	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	storagestack "github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	storagebackends "github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// restoreBackends are the backends the restore tests run the binary on:
// sqlite always, each network one when its variable is set (or in CI,
// which must have them). The memory store is tested in-process.
func restoreBackends() []string {
	out := []string{"sqlite"}
	for _, b := range []string{"postgres", "mysql", "redis", "mongodb"} {
		if os.Getenv(storagetest.EnvVar(b)) != "" || ci.On() {
			out = append(out, b)
		}
	}
	return out
}

// seedHistory fills uri, through the whole stack as a server would, with
// owners that each have kept versions (by the owner, by a job, by no one),
// a soft-deleted key and an audit log; every fifth owner has a log only.
func seedHistory(t *testing.T, uri string, owners int) {
	t.Helper()
	ctx := context.Background()
	keys := mustKeys(t, testserver.TestMasterKey)
	st, err := storagestack.Open(ctx, uri, storagestack.Options{MasterKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range owners {
		o := authtest.NewWallet().Addr
		ev := func(a audit.Action, keys ...string) *audit.Event {
			return &audit.Event{Time: time.Now(), Action: a, Keys: keys, Actor: o, IP: "127.0.0.1", Status: 200}
		}
		if err := st.AppendAudit(ctx, o, []audit.Event{*ev(audit.Login)}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			continue
		}
		commits := []storage.Commit{
			{By: storage.Writer{Address: o}, Changes: []storage.Change{{Name: "a", Value: []byte(`"a1"`)}}},
			{By: storage.Writer{Address: o}, Changes: []storage.Change{{Name: "a", Value: []byte(`"a2"`)}, {Name: "b", Value: []byte(`"b1"`)}}},
			{By: storage.Writer{Address: o, Job: "job-1"}, Changes: []storage.Change{{Name: "a", Value: []byte(`{"a":3}`)}}},
			{By: storage.Writer{Address: o}, Changes: []storage.Change{{Name: "b", Delete: true}}},
			{Changes: []storage.Change{{Name: "legacy", Value: []byte(`"no writer"`)}}},
		}
		for _, c := range commits {
			c.Owner = c.By.Address
			if c.Owner == "" {
				c.Owner = o
			}
			var names []string
			for i := range c.Changes {
				c.Changes[i].CAS = storage.NoCAS
				names = append(names, c.Changes[i].Name)
			}
			c.Event = ev(audit.Write, names...)
			if _, err := st.Commit(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// backupOf is a backup of the store at uri, by the binary.
func backupOf(t *testing.T, uri string) []byte {
	t.Helper()
	code, out, stderr := cli(t, testserver.Config(uri), nil, "backup", "-")
	if code != 0 {
		t.Fatalf("backup of %s: exit %d\n%s", uri, code, said(stderr))
	}
	return []byte(out)
}

// comparable is a backup without what differs between two backups of the
// same content: the header's created time and the trailer's MAC over it.
func comparable(t *testing.T, b []byte) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("not a backup: %q", b)
	}
	for _, i := range []int{0, len(lines) - 1} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "created")
		delete(m, "hmac_sha256")
		s, _ := json.Marshal(m)
		lines[i] = string(s)
	}
	return lines
}

// sameBackup fails unless got and want are the same backup, byte for
// byte but the header's created time (and so the MAC).
func sameBackup(t *testing.T, where string, got, want []byte) {
	t.Helper()
	g, w := comparable(t, got), comparable(t, want)
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			line := func(l []string) string {
				if i < len(l) {
					return l[i]
				}
				return "(none)"
			}
			t.Fatalf("%s: the backups differ from line %d of %d (want %d):\n%s\nwant:\n%s", where, i+1, len(g), len(w), line(g), line(w))
		}
	}
}

// noEmptyWriter fails if a version line of backup names no writer.
func noEmptyWriter(t *testing.T, where string, backup []byte) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(string(backup), "\n") {
		if strings.HasPrefix(l, `{"kind":"version"`) {
			n++
			if !strings.Contains(l, `"by":"`) {
				t.Fatalf("%s: a restored version without a writer: %s", where, l)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no version lines", where)
	}
}

var countsRE = regexp.MustCompile(`(\d+) secrets, (\d+) versions and (\d+) audit events of (\d+) owners`)

// counts is the "N secrets, V versions and E audit events of O owners"
// of a restore's output.
func counts(t *testing.T, out string) string {
	t.Helper()
	m := countsRE.FindString(out)
	if m == "" {
		t.Fatalf("no counts in %q", out)
	}
	return m
}

// fileCounts are what a backup file holds, as restore counts it, and its
// numbers of keys with versions and of audit logs.
func fileCounts(t *testing.T, file string) (all string, keys, logs int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var h migrate.SnapshotHeader
	if err := json.Unmarshal(b[:bytes.IndexByte(b, '\n')], &h); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		var r struct{ Kind, Owner, Name string }
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind != "" {
			seen[r.Kind+"\x00"+r.Owner+"\x00"+r.Name] = true
		}
	}
	for k := range seen {
		if strings.HasPrefix(k, "version\x00") {
			keys++
		} else {
			logs++
		}
	}
	return fmt.Sprintf("%d secrets, %d versions and %d audit events of %d owners", h.Secrets, h.Versions, h.Events, h.Owners), keys, logs
}

// restoreKilled starts `restore args…` and kills it (SIGKILL) after
// delay; it reports whether the kill came before the restore ended.
func restoreKilled(t *testing.T, env map[string]string, delay time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), append([]string{"restore", "--create"}, args...)...)
	cmd.Env = testserver.Env(t, env)
	// Killed with the test, should it time out: it must not go on writing
	// to a store the next test empties.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		if cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("restore %v: exit %d\n%s", args, cmd.ProcessState.ExitCode(), errb.String())
		}
		return false
	}
	return true
}

// TestRestoreKilledConverges: a restore killed half-way (SIGKILL of the
// binary, twice) and run again with --merge leaves exactly what a clean
// restore does: a backup of each is the same, byte for byte but the time
// it was taken. No key gets a spurious newest version, every version has
// a writer, the audit logs are the file's, and a --merge after that
// changes nothing. The dry run of each restore counts what it does.
func TestRestoreKilledConverges(t *testing.T) {
	files := map[int]string{}
	for _, backend := range restoreBackends() {
		// FerretDB is slow: a smaller file for it, still one a kill
		// lands in the middle of.
		owners := 150
		if backend == "mongodb" {
			owners = 30
		}
		if files[owners] == "" {
			src := "sqlite://" + filepath.Join(t.TempDir(), "source.sqlite")
			seedHistory(t, src, owners)
			files[owners] = filepath.Join(t.TempDir(), "source.backup")
			if code, _, stderr := cli(t, testserver.Config(src), nil, "backup", files[owners]); code != 0 {
				t.Fatalf("backup: exit %d\n%s", code, stderr)
			}
		}
		file := files[owners]
		all, keys, logs := fileCounts(t, file)
		t.Run(backend, func(t *testing.T) {
			to := emptyStore(t, backend)
			env := testserver.Config(to)
			code, dry, stderr := cli(t, env, nil, "restore", "--create", "--dry-run", file)
			if code != 0 {
				t.Fatalf("restore --dry-run: exit %d\n%s", code, stderr)
			}
			start := time.Now()
			code, out, stderr := cli(t, env, nil, "restore", "--create", file)
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("restore: exit %d %s\n%s", code, out, stderr)
			}
			if counts(t, out) != counts(t, dry) || counts(t, out) != all {
				t.Errorf("restore counted %q, its dry run %q", counts(t, out), counts(t, dry))
			}
			clean := backupOf(t, to)
			noEmptyWriter(t, "a clean restore", clean)

			// Killed half-way: the store holds part of the file.
			var partial []byte
			for attempt, delay := 0, took/2; ; attempt++ {
				to = emptyStore(t, backend)
				env = testserver.Config(to)
				killed := restoreKilled(t, env, delay, file)
				half := 0 // killed before it made the store: no backup
				if code, out, _ := cli(t, env, nil, "backup", "-"); code == 0 {
					partial = []byte(out)
					half = len(comparable(t, partial))
				}
				if killed && half > 2 && half < len(comparable(t, clean)) {
					t.Logf("killed after %v with %d of %d lines restored", delay, half-2, len(comparable(t, clean))-2)
					break
				}
				if attempt == 8 {
					t.Fatalf("no kill half-way in %d attempts (a clean restore takes %v)", attempt+1, took)
				}
				if killed && half <= 2 {
					delay += took / 4
				} else {
					delay -= delay / 3
				}
			}
			// Killed again, in its --merge.
			restoreKilled(t, env, took/3, "--merge", file)

			code, dry, stderr = cli(t, env, nil, "restore", "--merge", "--dry-run", file)
			if code != 0 {
				t.Fatalf("restore --merge --dry-run: exit %d\n%s", code, stderr)
			}
			code, out, stderr = cli(t, env, nil, "restore", "--merge", file)
			if code != 0 {
				t.Fatalf("restore --merge: exit %d %s\n%s", code, out, stderr)
			}
			if counts(t, out) != counts(t, dry) {
				t.Errorf("restore --merge counted %q, its dry run %q", counts(t, out), counts(t, dry))
			}
			if strings.Contains(stderr, "their own history") || strings.Contains(stderr, "first events") {
				t.Errorf("restore --merge kept a history of the store's own:\n%s", stderr)
			}
			sameBackup(t, "killed, then restore --merge", backupOf(t, to), clean)

			// Once more: everything is there as the file has it.
			code, out, stderr = cli(t, env, nil, "restore", "--merge", file)
			if code != 0 || counts(t, out) != fmt.Sprintf("0 secrets, 0 versions and 0 audit events of %d owners", logs) ||
				!strings.Contains(stderr, fmt.Sprintf("%d keys and %d audit logs were in the store already", keys, logs)) {
				t.Errorf("restore --merge of what is there: exit %d %s\n%s", code, out, stderr)
			}
			sameBackup(t, "a second restore --merge", backupOf(t, to), clean)
		})
	}
}

// faultLower is what a restore needs of the store under the seal layer.
type faultLower = storage.Backend

var errFault = errors.New("injected fault")

// faulty fails the next import after versionsOK version imports (each
// holding one owner's keys) or auditOK audit imports (one owner's log):
// a restore that stops between two owners. It fails once.
type faulty struct {
	faultLower
	versionsOK, auditOK int
}

// spend counts one import against a budget of f's: errFault when it is
// spent (0), once.
func spend(ok *int) error {
	if *ok == 0 {
		*ok = -1
		return errFault
	}
	*ok--
	return nil
}

func (f *faulty) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	if err := spend(&f.versionsOK); err != nil {
		return err
	}
	return f.faultLower.ImportVersions(ctx, owner, vs)
}

func (f *faulty) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	if err := spend(&f.auditOK); err != nil {
		return err
	}
	return f.faultLower.ImportAudit(ctx, owner, events)
}

// faultyMemory is a memory store, with a backup command over it and a
// restore command over it through faulty.
func faultyMemory(t *testing.T, versionsOK, auditOK int) (m *memoryStore, restoreF *cmdutil.Factory) {
	t.Helper()
	ctx := context.Background()
	kr := mustRing(t, testserver.TestMasterKey)
	raw, err := storagebackends.OpenBackend(ctx, "memory://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	plain, err := seal.NewStore(ctx, raw, kr)
	if err != nil {
		t.Fatal(err)
	}
	faultySt, err := seal.NewStore(ctx, &faulty{raw, versionsOK, auditOK}, kr)
	if err != nil {
		t.Fatal(err)
	}
	factory := func(st *seal.Store) *cmdutil.Factory {
		store := &cmdutil.Store{Plain: st, URI: "memory://", Snapshot: raw.Snapshot, Close: func() {}}
		return &cmdutil.Factory{BindStore: func(*cobra.Command) func(context.Context) (*cmdutil.Store, error) {
			return func(context.Context) (*cmdutil.Store, error) { return store, nil }
		}}
	}
	return &memoryStore{f: factory(plain)}, factory(faultySt)
}

// restoreIn runs restore args… - in this process over f, stdin file.
func restoreIn(f *cmdutil.Factory, file []byte, args ...string) (string, string, error) {
	ios, in, out, errOut := cmdutil.Test(false)
	in.Write(file)
	f.IOStreams = ios
	c := restore.NewCmdRestore(f, nil)
	c.SetArgs(append(args, "-"))
	c.SetOut(out)
	c.SetErr(errOut)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.Execute()
	return out.String(), errOut.String(), err
}

// TestRestoreFaultConvergesMemory: on the memory store, a restore that
// fails between two owners (in its versions, or in its audit logs) and is
// run again with --merge leaves what a clean restore does.
func TestRestoreFaultConvergesMemory(t *testing.T) {
	src := "sqlite://" + filepath.Join(t.TempDir(), "source.sqlite")
	seedHistory(t, src, 50)
	file := backupOf(t, src)
	clean := newMemoryStore(t)
	clean.restore(t, file)
	want := clean.backup(t)
	noEmptyWriter(t, "a clean restore", want)
	for _, tc := range []struct {
		name                string
		versionsOK, auditOK int
	}{
		{"in the versions", 17, -1},
		{"in the audit logs", -1, 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, f := faultyMemory(t, tc.versionsOK, tc.auditOK)
			if _, stderr, err := restoreIn(f, file); !errors.Is(err, errFault) {
				t.Fatalf("restore with a fault: %v\n%s", err, stderr)
			}
			if half := len(comparable(t, m.backup(t))); half <= 2 || half >= len(comparable(t, want)) {
				t.Fatalf("the fault left %d lines of %d", half, len(comparable(t, want)))
			}
			dry, _, err := restoreIn(f, file, "--merge", "--dry-run")
			if err != nil {
				t.Fatal(err)
			}
			out, stderr, err := restoreIn(f, file, "--merge")
			if err != nil || counts(t, out) != counts(t, dry) {
				t.Fatalf("restore --merge: %v %s (dry run %s)\n%s", err, out, dry, stderr)
			}
			sameBackup(t, "memory after a fault and restore --merge", m.backup(t), want)
		})
	}
}

// said is what a command printed on stderr, without the store's log lines
// (JSON, such as a MongoDB store's note that it has no transactions).
func said(stderr string) string {
	var out []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(l, `{"time":`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// emptiness is the one line a restore without --merge into a store that
// holds anything says.
const emptiness = "nosana-secrets: restore: the store is not empty (it holds secrets, kept versions or audit events); " +
	"restore into an empty store, or add --merge to add the file's keys and logs beside what it holds\n"

// TestRestoreRefusesAStoreThatHoldsAnything: a restore without --merge
// into a store that holds one audit event (one sign-in), one secret or
// one kept version refuses with the one line that names --merge, and the
// store is as it was.
func TestRestoreRefusesAStoreThatHoldsAnything(t *testing.T) {
	w := authtest.NewWallet()
	src := "sqlite://" + filepath.Join(t.TempDir(), "source.sqlite")
	srv, a, tok := startSignedIn(t, testserver.Config(src), w)
	a.expect(a.do("PUT", "/v1/secrets/k", tok, map[string]any{"value": "v"}), 200, "", "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "source.backup")
	if code, _, stderr := cli(t, testserver.Config(src), nil, "backup", file); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	// raw writes to the store at uri below its seal layer (a store as
	// serve creates it: with its key check).
	raw := func(t *testing.T, uri string, fn func(storage.Store) error) {
		keys := mustKeys(t, testserver.TestMasterKey)
		s, err := storagestack.Open(context.Background(), uri, storagestack.Options{MasterKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := fn(s.Lower()); err != nil {
			t.Fatal(err)
		}
	}
	for _, backend := range restoreBackends() {
		for _, held := range []string{"a sign-in", "a secret", "a kept version"} {
			t.Run(backend+"/"+held, func(t *testing.T) {
				to := emptyStore(t, backend)
				env := testserver.Config(to)
				switch held {
				case "a sign-in": // the owner of the file's log signs in
					srv := testserver.Start(t, env)
					api{t, srv.URL}.login(w)
					if err := srv.Stop(); err != nil {
						t.Fatal(err)
					}
				case "a secret":
					raw(t, to, func(s storage.Store) error {
						return s.Put(context.Background(), authtest.NewWallet().Addr, []storage.Item{{Name: "x", Value: []byte("y")}})
					})
				case "a kept version": // a soft-deleted key: no secret, no event
					raw(t, to, func(s storage.Store) error {
						return s.ImportVersions(context.Background(), authtest.NewWallet().Addr,
							[]storage.Version{{Name: "x", Version: 1, Deleted: true, CreatedAt: time.Now(), By: storage.Writer{Address: w.Addr}}})
					})
				}
				before := backupOf(t, to)
				code, out, stderr := cli(t, env, nil, "restore", "--create", file)
				if code != 1 || out != "" || said(stderr) != emptiness {
					t.Errorf("restore into a store with %s: exit %d %q\n%q\nwant exit 1 and\n%q", held, code, out, stderr, emptiness)
				}
				sameBackup(t, "the store a restore refused", backupOf(t, to), before)
			})
		}
	}
}

// macKeyOf is the MAC key of backups under the test master key.
func macKeyOf(t *testing.T) []byte {
	t.Helper()
	kr := mustRing(t, testserver.TestMasterKey)
	key, _, err := kr.Derive("", migrate.MACPurpose, migrate.MACKeySize)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// retrailer is body (a backup without its trailer) with a trailer of the
// given counts, and the MAC or checksum field computed by sum.
func retrailer(body string, secrets, versions, events int, field string, sum []byte) string {
	return body + fmt.Sprintf(`{"end":true,"secrets":%d,"versions":%d,"events":%d,"%s":"%x"}`, secrets, versions, events, field, sum) + "\n"
}

// TestRestoreRefusesAnEditedBackup: someone who can edit a backup but
// does not hold the master key rolls a value back to an older sealed
// blob, or changes who wrote a version, and recomputes the trailer as
// before (a bare SHA-256) or with another key: restore refuses it with one
// line, before writing anything. The same edit under the real key (what
// only the master key's holder can make) restores, which shows the edit
// itself is well-formed.
func TestRestoreRefusesAnEditedBackup(t *testing.T) {
	w := authtest.NewWallet()
	src := "sqlite://" + filepath.Join(t.TempDir(), "source.sqlite")
	srv, a, tok := startSignedIn(t, testserver.Config(src), w)
	for _, v := range []string{`"one"`, `"two"`} {
		a.expect(a.do("PUT", "/v1/secrets/DB", tok, map[string]any{"value": json.RawMessage(v)}), 200, "", "")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	good := string(backupOf(t, src))
	lines := strings.SplitAfter(strings.TrimSuffix(good, "\n"), "\n")
	body := strings.Join(lines[:len(lines)-1], "")
	var tr struct{ Secrets, Versions, Events int }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tr); err != nil {
		t.Fatal(err)
	}
	// The sealed blobs of DB's two versions.
	blob := regexp.MustCompile(`"kind":"version","owner":"[^"]+","name":"DB","value":"([^"]+)","version":(\d)`)
	var v1, v2 string
	for _, m := range blob.FindAllStringSubmatch(body, -1) {
		if m[2] == "1" {
			v1 = m[1]
		} else {
			v2 = m[1]
		}
	}
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("no two versions of DB in the backup:\n%s", body)
	}
	edits := map[string]string{
		"rolled back": strings.ReplaceAll(body, `"value":"`+v2+`"`, `"value":"`+v1+`"`),
		"another by":  strings.Replace(body, `"by":"`+w.Addr+`"`, `"by":"`+authtest.NewWallet().Addr+`"`, 1),
	}
	key := macKeyOf(t)
	for name, edited := range edits {
		if edited == body {
			t.Fatalf("%s: nothing edited", name)
		}
		other := hmac.New(sha256.New, bytes.Repeat([]byte{1}, migrate.MACKeySize))
		other.Write([]byte(edited))
		sum := sha256.Sum256([]byte(edited))
		for how, file := range map[string]string{
			"the checksum recomputed": retrailer(edited, tr.Secrets, tr.Versions, tr.Events, "sha256", sum[:]),
			"a bare SHA-256 as MAC":   retrailer(edited, tr.Secrets, tr.Versions, tr.Events, "hmac_sha256", sum[:]),
			"a MAC under another key": retrailer(edited, tr.Secrets, tr.Versions, tr.Events, "hmac_sha256", other.Sum(nil)),
		} {
			t.Run(name+", "+how, func(t *testing.T) {
				to := "sqlite://" + filepath.Join(t.TempDir(), "to.sqlite")
				code, out, stderr := cli(t, testserver.Config(to), []byte(file), "restore", "--create", "-")
				want := "nosana-secrets: restore -: not a whole nosana-secrets backup: its MAC does not match: the file was altered or damaged (nothing was written)\n"
				if code != 1 || out != "" || said(stderr) != want {
					t.Errorf("exit %d %q\n%q\nwant exit 1 and\n%q", code, out, stderr, want)
				}
				if n := len(snapshot(t, to)); n != 0 {
					t.Errorf("%d records written", n)
				}
			})
		}
		t.Run(name+", under the master key", func(t *testing.T) {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(edited))
			to := "sqlite://" + filepath.Join(t.TempDir(), "to.sqlite")
			if code, out, stderr := cli(t, testserver.Config(to), []byte(retrailer(edited, tr.Secrets, tr.Versions, tr.Events, "hmac_sha256", mac.Sum(nil))), "restore", "--create", "-"); code != 0 {
				t.Errorf("exit %d %s\n%s", code, out, stderr)
			}
		})
	}
}

// TestRestoreRefusesALongLine: a line longer than the largest value the
// server accepts, sealed, with its envelope, is refused by number before
// anything is read past it.
func TestRestoreRefusesALongLine(t *testing.T) {
	header := `{"format":"nosana-secrets-backup","version":2,"created":"2026-01-02T03:04:05Z","key_ids":[],"owners":1,"secrets":2}` + "\n"
	short := `{"owner":"` + authtest.NewWallet().Addr + `","name":"k","value":"AQID"}` + "\n"
	long := `{"owner":"` + authtest.NewWallet().Addr + `","name":"big","value":"` + strings.Repeat("A", migrate.MaxLine(migrate.DefaultBodyLimit)) + `"}` + "\n"
	to := "sqlite://" + filepath.Join(t.TempDir(), "to.sqlite")
	code, out, stderr := cli(t, testserver.Config(to), []byte(header+short+long), "restore", "--create", "--allow-unauthenticated", "--dry-run", "-")
	want := fmt.Sprintf("nosana-secrets: restore -: not a whole nosana-secrets backup: line 3 is longer than %d bytes, "+
		"the most a backup line can be (a value of the server's largest body, sealed, and its envelope)\n", migrate.MaxLine(migrate.DefaultBodyLimit))
	if code != 1 || out != "" || said(stderr) != want {
		t.Errorf("exit %d %q\n%q\nwant exit 1 and\n%q", code, out, stderr, want)
	}
}

// TestRestoreVersion1File: the secrets of a file of format version 1 (no
// versions, no MAC) come back each as one version written by its owner at
// the time the file says, and a --merge of the same file adds nothing.
func TestRestoreVersion1File(t *testing.T) {
	kr := mustRing(t, testserver.TestMasterKey)
	owner := authtest.NewWallet().Addr
	body := fmt.Sprintf(`{"format":"nosana-secrets-backup","version":1,"created":"2026-01-02T03:04:05Z","key_ids":[%q],"owners":1,"secrets":2}`+"\n", kr.ActiveID())
	for i, name := range []string{"a", "b"} {
		blob, err := kr.Seal(owner, name, []byte(fmt.Sprintf(`"value %d"`, i)))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := json.Marshal(blob)
		body += fmt.Sprintf(`{"owner":%q,"name":%q,"value":%s,"version":%d,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-06-01T00:00:0%dZ"}`+"\n",
			owner, name, v, 3+i, i)
	}
	file := []byte(body + fmt.Sprintf(`{"end":true,"secrets":2,"sha256":"%x"}`+"\n", sha256.Sum256([]byte(body))))
	to := "sqlite://" + filepath.Join(t.TempDir(), "v1.sqlite")
	env := testserver.Config(to)
	if code, out, stderr := cli(t, env, file, "restore", "--create", "--allow-unauthenticated", "-"); code != 0 || counts(t, out) != "2 secrets, 0 versions and 0 audit events of 1 owners" {
		t.Fatalf("restore: exit %d %s\n%s", code, out, stderr)
	}
	got := historyAt(t, to, owner)
	want := []string{
		fmt.Sprintf("a v3 deleted=false 2025-06-01T00:00:00.000000Z by %s/", owner),
		fmt.Sprintf("b v4 deleted=false 2025-06-01T00:00:01.000000Z by %s/", owner),
	}
	for i, v := range got.versions {
		if i >= len(want) || !strings.HasPrefix(v, want[i]) {
			t.Fatalf("versions:\n%s\nwant them to start with:\n%s", strings.Join(got.versions, "\n"), strings.Join(want, "\n"))
		}
	}
	before := backupOf(t, to)
	code, out, stderr := cli(t, env, file, "restore", "--merge", "--allow-unauthenticated", "-")
	if code != 0 || counts(t, out) != "0 secrets, 0 versions and 0 audit events of 1 owners" ||
		!strings.Contains(stderr, "restore: 2 keys and 0 audit logs were in the store already") {
		t.Fatalf("restore --merge: exit %d %s\n%s", code, out, stderr)
	}
	sameBackup(t, "a version 1 file restored again with --merge", backupOf(t, to), before)
}
