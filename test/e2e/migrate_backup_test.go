package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/backup"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/restore"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	storagestack "github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// cli runs the real binary with env and returns its exit code, stdout and
// stderr.
func cli(t *testing.T, env map[string]string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), args...)
	cmd.Env = testserver.Env(t, env)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState.ExitCode() < 0 {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// emptyStore returns the URI of a new, empty store of backend that is ours
// alone.
func emptyStore(t *testing.T, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "restored.sqlite")
	case "postgres":
		uri, name := scratchName(t, "postgres", "restore")
		runTool(t, nil, "psql", "-q", "-v", "ON_ERROR_STOP=1", storagetest.URI(t, "postgres"),
			"-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)", "-c", "CREATE DATABASE "+name)
		return uri
	case "mysql":
		uri, name := scratchName(t, "mysql", "restore")
		runTool(t, nil, mysqlClient(), append(mysqlArgs(t, uri), "-e", "DROP DATABASE IF EXISTS "+name+"; CREATE DATABASE "+name)...)
		return uri
	case "redis":
		return redisOwn(t, "restore")
	case "mongodb":
		uri, name := scratchName(t, "mongodb", "restore")
		if err := mongoDB(t, uri, name).Drop(context.Background()); err != nil {
			t.Fatal(err)
		}
		return uri
	}
	t.Fatalf("no empty store for %s", backend)
	return ""
}

// records are a backup's secret lines, keyed by owner and name: the
// sealed value and nothing that changes on restore.
func records(t *testing.T, backup []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(backup))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var r struct{ Kind, Owner, Name, Value string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Owner != "" && r.Kind == "" { // not a version or audit line
			out[r.Owner+"\x00"+r.Name] = r.Value
		}
	}
	return out
}

// TestBackupRestoreAcrossBackends moves the original's fixture data, once
// imported, through all six backends by backup and restore, and serves the
// last copy: every wallet reads what it had. The memory and sqlite hops
// always run; a network backend's hop runs when its variable is set.
func TestBackupRestoreAcrossBackends(t *testing.T) {
	f := loadFixture(t)
	first := "sqlite://" + filepath.Join(t.TempDir(), "first.sqlite")
	if _, code, stderr := runMigrate(t, testserver.Config(first), loadSQLite(t, f)); code != 1 {
		t.Fatalf("migrate: exit %d\n%s", code, stderr)
	}
	dir := t.TempDir()
	from := first
	var want map[string]string
	var memory *memoryStore
	hops := 0
	for _, backend := range []string{"postgres", "mysql", "redis", "mongodb", "memory", "sqlite"} {
		if backend != "memory" && backend != "sqlite" && !slices.Contains(restoreBackends(), backend) {
			t.Logf("no %s hop: %s is not set", backend, storagetest.EnvVar(backend))
			continue
		}
		i := hops
		hops++
		file := filepath.Join(dir, backend+".backup")
		var b []byte
		if from == "memory://" {
			b = memory.backup(t)
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			code, _, stderr := cli(t, testserver.Config(from), nil, "backup", file)
			if code != 0 {
				t.Fatalf("backup of %s: exit %d\n%s", from, code, stderr)
			}
			var err error
			if b, err = os.ReadFile(file); err != nil {
				t.Fatal(err)
			}
		}
		got := records(t, b)
		if i == 0 {
			want = got
			if int64(len(want)) != f.wantCount("sqlite") {
				t.Fatalf("backup holds %d secrets, want %d", len(want), f.wantCount("sqlite"))
			}
		} else if !equalMaps(got, want) {
			t.Fatalf("the backup of %s differs from the first", from)
		}
		if backend == "memory" {
			// A memory store lives in one process: this hop runs the
			// commands in the test's.
			memory = newMemoryStore(t)
			memory.restore(t, b)
			from = "memory://"
			continue
		}
		to := emptyStore(t, backend)
		env := testserver.Config(to)
		if code, out, stderr := cli(t, env, nil, "restore", "--create", "--dry-run", file); code != 0 || !strings.Contains(out, "would be restored") {
			t.Fatalf("restore --dry-run into %s: exit %d %s\n%s", backend, code, out, stderr)
		}
		if code, out, stderr := cli(t, env, nil, "restore", "--create", file); code != 0 {
			t.Fatalf("restore into %s: exit %d %s\n%s", backend, code, out, stderr)
		}
		// A second restore finds secrets there and refuses, unless --merge.
		if code, out, stderr := cli(t, env, nil, "restore", file); code != 1 || out != "" || said(stderr) != emptiness {
			t.Fatalf("second restore into %s: exit %d %s\n%q\nwant\n%q", backend, code, out, stderr, emptiness)
		}
		if code, _, stderr := cli(t, env, b, "restore", "--merge", "-"); code != 0 {
			t.Fatalf("restore --merge - into %s: exit %d\n%s", backend, code, stderr)
		}
		from = to
	}
	f.checkServed(t, "sqlite", testserver.Config(from))
}

// TestRestoreRefusesBadFiles: a damaged, cut or foreign file, or one the
// configured key cannot open, writes nothing.
func TestRestoreRefusesBadFiles(t *testing.T) {
	f := loadFixture(t)
	first := "sqlite://" + filepath.Join(t.TempDir(), "first.sqlite")
	runMigrate(t, testserver.Config(first), loadSQLite(t, f))
	code, good, stderr := cli(t, testserver.Config(first), nil, "backup", "-")
	if code != 0 {
		t.Fatalf("backup -: exit %d\n%s", code, stderr)
	}
	altered := []byte(good)
	i := bytes.Index(altered, []byte(`"value":"`)) + len(`"value":"`)
	altered[i] ^= 'A' ^ 'B'
	if altered[i] == good[i] {
		altered[i] = 'C'
	}
	lines := strings.SplitAfter(good, "\n")
	sealed := good[i : i+20]
	// A whole file (checksum right) that would overwrite the server's own
	// key check.
	body := strings.Join(lines[:2], "") + strings.Replace(lines[1], f.Wallets["B"], "_nosana", 1) + strings.Join(lines[2:len(lines)-2], "")
	body = strings.Replace(body, `"secrets":36`, `"secrets":37`, 1)
	var tr struct{ Versions, Events int }
	if err := json.Unmarshal([]byte(lines[len(lines)-2]), &tr); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, macKeyOf(t))
	mac.Write([]byte(body))
	system := retrailer(body, 37, tr.Versions, tr.Events, "hmac_sha256", mac.Sum(nil))
	for _, tc := range []struct {
		name, file, key, msg string
	}{
		{"altered", string(altered), testserver.TestMasterKey, "MAC does not match"},
		{"cut short", strings.Join(lines[:len(lines)/2], ""), testserver.TestMasterKey, "without its trailer"},
		{"not a backup", "{\"hello\":1}\n", testserver.TestMasterKey, "not a backup header"},
		{"system owner", system, testserver.TestMasterKey, "no server writes"},
		{"other key", good, "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXkhISE=", "which the configured master keys do not hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := "sqlite://" + filepath.Join(t.TempDir(), "to.sqlite")
			env := testserver.Config(to)
			env["MASTER_KEY"] = tc.key
			code, _, stderr := cli(t, env, []byte(tc.file), "restore", "--create", "-")
			if code != 1 || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, tc.msg, stderr)
			}
			if strings.Contains(stderr, sealed) || len(stderr) > 400 {
				t.Errorf("stderr shows too much:\n%s", stderr)
			}
			if n := len(snapshot(t, to)); n != 0 {
				t.Errorf("%d records written", n)
			}
		})
	}
}

// memoryStore is a memory:// stack and the backup and restore commands
// over it, run in this process.
type memoryStore struct {
	f *cmdutil.Factory
}

func newMemoryStore(t *testing.T) *memoryStore {
	t.Helper()
	keys := mustKeys(t, testserver.TestMasterKey)
	st, err := storagestack.Open(context.Background(), "memory://", storagestack.Options{MasterKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := &cmdutil.Store{Plain: st, URI: "memory://", Snapshot: st.Lower().Snapshot, Close: func() {}}
	return &memoryStore{f: &cmdutil.Factory{BindStore: func(*cobra.Command) func(context.Context) (*cmdutil.Store, error) {
		return func(context.Context) (*cmdutil.Store, error) { return store, nil }
	}}}
}

func (m *memoryStore) run(t *testing.T, c func(*cmdutil.Factory) *cobra.Command, stdin []byte) []byte {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test(false)
	in.Write(stdin)
	m.f.IOStreams = ios
	cmd := c(m.f)
	cmd.SetArgs([]string{"-"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%s - on memory://: %v\n%s", cmd.Name(), err, errOut)
	}
	return out.Bytes()
}

func (m *memoryStore) restore(t *testing.T, backup []byte) {
	m.run(t, func(f *cmdutil.Factory) *cobra.Command { return restore.NewCmdRestore(f, nil) }, backup)
}

func (m *memoryStore) backup(t *testing.T) []byte {
	return m.run(t, func(f *cmdutil.Factory) *cobra.Command { return backup.NewCmdBackup(f, nil) }, nil)
}
