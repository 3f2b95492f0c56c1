package cmd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

// user is one person at a shell: a home directory (so the default keypair
// and token cache are their own) and an endpoint.
type user struct {
	t        *testing.T
	home     string
	endpoint string
	extra    []string
	stderrs  []string // everything the CLI wrote to stderr
}

func newUser(t *testing.T, endpoint string) *user {
	home := t.TempDir()
	return &user{t: t, home: home, endpoint: endpoint}
}

// env is a clean environment: none of the caller's NOSANA_SECRETS_* or
// config locations leak in.
func (u *user) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NOSANA_SECRETS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+u.home, "XDG_CONFIG_HOME="+filepath.Join(u.home, ".config"),
		"NOSANA_SECRETS_ENDPOINT="+u.endpoint)
	return append(env, u.extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the real binary with stdin (not a terminal) and returns its
// output and exit code.
func (u *user) run(stdin string, args ...string) result {
	u.t.Helper()
	cmd := exec.Command(testserver.Binary(u.t), args...)
	cmd.Env = u.env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		u.t.Fatalf("run %v: %v", args, err)
	}
	r := result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
	u.stderrs = append(u.stderrs, r.stderr)
	checkStderr(u.t, args, r.stderr)
	return r
}

// expect runs args and checks the exit code and the exact stdout.
func (u *user) expect(code int, stdout string, stdin string, args ...string) result {
	u.t.Helper()
	r := u.run(stdin, args...)
	if r.code != code || r.stdout != stdout {
		u.t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout %q", args, r.code, r.stdout, r.stderr, code, stdout)
	}
	return r
}

// keygen makes the user's keypair with the real binary and returns its
// address; the test stops when that fails.
func (u *user) keygen(args ...string) string {
	u.t.Helper()
	r := u.run("", append([]string{"keygen"}, args...)...)
	if r.code != 0 || !addressRE.MatchString(r.stdout) {
		u.t.Fatalf("keygen: %+v", r)
	}
	return strings.TrimSpace(r.stdout)
}

// checkStderr: never a Go panic or stack trace.
func checkStderr(t *testing.T, args []string, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic:") || strings.Contains(stderr, ".go:") {
		t.Fatalf("%v: stderr looks like a Go trace:\n%s", args, stderr)
	}
}

func startServer(t *testing.T, env map[string]string) *testserver.Server {
	cfg := testserver.Config("sqlite://" + filepath.Join(t.TempDir(), "db.sqlite"))
	for k, v := range env {
		cfg[k] = v
	}
	return testserver.Start(t, cfg)
}

// startOwner starts a server and a user of it who has made a keypair.
func startOwner(t *testing.T) (*testserver.Server, *user) {
	t.Helper()
	srv := startServer(t, nil)
	u := newUser(t, srv.URL)
	u.keygen()
	return srv, u
}

var addressRE = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{32,44}\n$`)

// TestJourney is a user's first session: keygen → set → get → list → run →
// delete, with exit codes, stdout/stderr separation and no secret value
// ever on stderr.
func TestJourney(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	srv := startServer(t, nil)
	u := newUser(t, srv.URL)
	const secret = "s3cr3t-Value with spaces"

	// No keypair yet: exit 4, and the message says how to make one.
	r := u.expect(4, "", "", "get", "DB_PASSWORD")
	if !strings.Contains(r.stderr, "nosana-secrets keygen") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
		t.Fatalf("missing keypair message: %q", r.stderr)
	}

	address := u.keygen()
	kpPath := filepath.Join(u.home, ".config", "solana", "id.json")
	if st, err := os.Stat(kpPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keypair file: %v %v", st, err)
	}
	u.expect(1, "", "", "keygen") // exists: refused without --force

	u.expect(0, "DB_PASSWORD\n", secret+"\n", "set", "DB_PASSWORD", "-")
	envFile := filepath.Join(u.home, "app.env")
	if err := os.WriteFile(envFile, []byte("# app\nexport API_URL=https://api.example.com\nPEM=\"line1\\nline2\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u.expect(0, "prod/API_URL\nprod/PEM\n", "", "set", "--from-file", envFile, "--prefix", "prod/")
	u.expect(0, "N\ncfg\n", "", "set", "--json", "N=42", `cfg={"a": [1, true]}`)
	u.expect(2, "", "", "set", "JUSTAKEY")

	// get: the value raw, nothing added.
	u.expect(0, secret, "", "get", "DB_PASSWORD")
	u.expect(0, "line1\nline2", "", "get", "prod/PEM")
	u.expect(0, "42", "", "get", "N")
	u.expect(0, `{"a":[1,true]}`, "", "get", "cfg")
	u.expect(0, "DB_PASSWORD='"+secret+"'\n", "", "get", "-o", "env", "DB_PASSWORD")
	r = u.expect(3, "", "", "get", "nope")
	if !strings.HasPrefix(r.stderr, "nosana-secrets: ") || !strings.Contains(r.stderr, "nope") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("not found: %q", r.stderr)
	}

	u.expect(0, "DB_PASSWORD\nN\ncfg\nprod/API_URL\nprod/PEM\n", "", "list")
	u.expect(0, "prod/API_URL\nprod/PEM\n", "", "list", "--prefix", "prod/")
	r = u.run("", "list", "--show-values", "-o", "json")
	var all map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || all["DB_PASSWORD"] != secret || all["N"] != 42.0 {
		t.Fatalf("list json: %s %v", r.stdout, err)
	}

	// run: secrets in the environment, the exit code passes through.
	u.expect(7, secret+"|https://api.example.com", "", "run", "--", "sh", "-c", `printf '%s|%s' "$DB_PASSWORD" "$prod_API_URL"; exit 7`)
	u.expect(0, "https://api.example.com", "", "run", "--prefix", "prod/", "--", "sh", "-c", `printf '%s' "$API_URL"`)
	u.extra = []string{"DB_PASSWORD=from-env"}
	r = u.expect(0, "from-env", "", "run", "--", "sh", "-c", `printf '%s' "$DB_PASSWORD"`)
	if !strings.Contains(r.stderr, "kept $DB_PASSWORD") || !strings.Contains(r.stderr, "--override") {
		t.Errorf("no note about the kept variable: %q", r.stderr)
	}
	u.expect(0, secret, "", "run", "--override", "--", "sh", "-c", `printf '%s' "$DB_PASSWORD"`)
	u.extra = nil
	u.expect(127, "", "", "run", "--", "no-such-command-xyz")

	// delete: refused off a terminal without --yes.
	r = u.expect(2, "", "", "delete", "DB_PASSWORD")
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("delete without --yes: %q", r.stderr)
	}
	u.expect(0, secret, "", "get", "DB_PASSWORD")
	u.expect(0, "", "", "delete", "--yes", "DB_PASSWORD", "N")
	u.expect(3, "", "", "get", "DB_PASSWORD")

	// login prints who you are; the token is cached 0600 and reused.
	r = u.run("", "login")
	if r.code != 0 || !strings.Contains(r.stdout, "address:  "+address) || strings.Contains(r.stdout, "eyJ") {
		t.Fatalf("login: %+v", r)
	}
	tokens, _ := filepath.Glob(filepath.Join(u.home, ".config", "nosana-secrets", "tokens", "*.json"))
	if len(tokens) != 1 {
		t.Fatalf("token cache: %v", tokens)
	}
	if st, _ := os.Stat(tokens[0]); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", st.Mode().Perm())
	}
	logins := srv.Requests(t, "/login")
	u.expect(0, "line1\nline2", "", "get", "prod/PEM")
	if n := srv.Requests(t, "/login"); n != logins {
		t.Errorf("get signed in again (%d → %d) despite a cached token", logins, n)
	}

	// A server that is not there: exit 5.
	down := newUser(t, "http://127.0.0.1:1")
	down.home = u.home
	r = down.expect(5, "", "", "list")
	if !strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("unreachable: %q", r.stderr)
	}

	for _, s := range u.stderrs {
		for _, v := range []string{secret, "https://api.example.com", "line1"} {
			if strings.Contains(s, v) {
				t.Errorf("a secret value reached stderr: %q", s)
			}
		}
	}
}

// TestRunForwardsSignals: SIGTERM to nosana-secrets reaches the command,
// whose exit code comes back.
func TestRunForwardsSignals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX signals")
	}
	srv := startServer(t, nil)
	u := newUser(t, srv.URL)
	u.keygen("--keypair", filepath.Join(u.home, "k.json"))
	u.extra = []string{"NOSANA_SECRETS_KEYPAIR=" + filepath.Join(u.home, "k.json")}
	u.expect(0, "A\n", "", "set", "A=1")

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(testserver.Binary(t), "run", "--", "sh", "-c",
				`trap 'echo got-signal; exit 9' INT TERM HUP; echo "ready $A"; while :; do sleep 0.05; done`)
			cmd.Env = u.env()
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			if !sc.Scan() || sc.Text() != "ready 1" {
				t.Fatalf("child did not start: %q %s", sc.Text(), stderr.String())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stdout)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("still running 10s after the signal")
			}
			if code := cmd.ProcessState.ExitCode(); code != 9 || !strings.Contains(string(rest), "got-signal") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, rest, stderr.String())
			}
		})
	}
}

// TestJobFlow: a node that claimed a project's job reads the secrets the
// job grants with job-fetch and run --job, against the fake chain and IPFS.
func TestJobFlow(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	v := vectors.Load(t)
	rpc := solanatest.NewServer(t)
	gw := ipfstest.NewGateway(t)
	program := solana.MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM")
	srv := startServer(t, map[string]string{
		"SOLANA_RPC_URL":  rpc.URL,
		"JOBS_PROGRAM_ID": program.String(),
		"IPFS_GATEWAY":    gw.URL,
	})

	project := newUser(t, srv.URL)
	kpJSON, _ := json.Marshal(v.Keypair.KeygenJSON)
	if err := os.MkdirAll(filepath.Join(project.home, ".config", "solana"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project.home, ".config", "solana", "id.json"), kpJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	project.expect(0, "OTHER\npipeline1-ssh-key\n", "", "set", "pipeline1-ssh-key=ssh-secret", "OTHER=not-granted")

	node := newUser(t, srv.URL)
	nodeAddr := node.keygen()

	job := solanatest.NewKey()
	run := solanatest.NewKey()
	digest := gw.AddJSON(t, map[string]any{"type": "Github", "state": map[string]any{"nosana/secrets": []string{"pipeline1-ssh-key", "MISSING"}}})
	rpc.PutJob(job, program, solana.Job{IPFSJob: digest, Project: solana.MustPublicKeyFromBase58(v.Keypair.Address), State: solana.JobQueued, Timeout: 3600, HasTimeout: true})
	rpc.PutRun(run, program, solana.Run{Job: job, Node: solana.MustPublicKeyFromBase58(nodeAddr), Time: time.Now().Unix()})

	node.expect(0, "ssh-secret", "", "job-fetch", "--job", job.String(), "pipeline1-ssh-key")
	node.expect(0, "pipeline1-ssh-key\tssh-secret\n", "", "job-fetch", "--job", job.String())
	node.expect(0, `{
  "pipeline1-ssh-key": "ssh-secret"
}
`, "", "job-fetch", "--job", job.String(), "-o", "json")
	r := node.expect(4, "", "", "job-fetch", "--job", job.String(), "OTHER")
	if !strings.Contains(r.stderr, "not in job") {
		t.Errorf("not granted: %q", r.stderr)
	}
	node.expect(3, "", "", "job-fetch", "--job", job.String(), "MISSING")
	node.expect(0, "ssh-secret|", "", "run", "--job", job.String(), "--", "sh", "-c", `printf '%s|%s' "$pipeline1_ssh_key" "$OTHER"`)

	// Someone else's job (a stranger signs in for it): refused, exit 4.
	stranger := newUser(t, srv.URL)
	stranger.keygen()
	r = stranger.expect(4, "", "", "job-fetch", "--job", job.String())
	if !strings.Contains(r.stderr, "did not claim") {
		t.Errorf("stranger: %q", r.stderr)
	}
}

// TestSSHKeyJourney is the README's: a deploy key stored with
// `set KEY - < file` (and `--file`) comes back from `get` byte for byte,
// and ssh-keygen accepts it (issue 21: the last newline was stripped).
func TestSSHKeyJourney(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if ci.On() {
			t.Fatal("ssh-keygen is missing (.ci/run installs openssh-client)")
		}
		t.Skip("no ssh-keygen")
	}
	_, u := startOwner(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "deploy_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	raw, _ := os.ReadFile(key)
	pub, _ := os.ReadFile(key + ".pub")
	u.expect(0, "pipeline1-ssh-key\n", string(raw), "set", "pipeline1-ssh-key", "-")
	u.expect(0, "by-file\n", "", "set", "by-file", "--file", key)
	for _, name := range []string{"pipeline1-ssh-key", "by-file"} {
		r := u.expect(0, string(raw), "", "get", name)
		back := filepath.Join(dir, name)
		if err := os.WriteFile(back, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(keygen, "-y", "-f", back).CombinedOutput()
		if err != nil || strings.Fields(string(out))[1] != strings.Fields(string(pub))[1] {
			t.Errorf("ssh-keygen -y on the key read back from %s: %v %s", name, err, out)
		}
	}
}

// TestStoreVerbsNeverCreate: a maintenance command run where there is no
// store exits 3 and leaves the directory as it was; serve refuses an
// existing database whose key file is gone without writing a new key, and
// a serve that cannot listen creates nothing (issue 21, finding 2).
func TestStoreVerbsNeverCreate(t *testing.T) {
	bin := testserver.Binary(t)
	run := func(dir string, args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = testserver.Env(t, nil)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
	}
	entries := func(dir string) []string {
		des, _ := os.ReadDir(dir)
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		return names
	}
	empty, elsewhere := t.TempDir(), t.TempDir()
	file := filepath.Join(elsewhere, "x.backup")
	if err := os.WriteFile(file, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	orig, err := filepath.Abs(filepath.Join("..", "..", "shared", "testdata", "original", "sqlite", "orig.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"backup", "x.backup"},
		{"restore", file},
		{"rekey"},
		{"migrate", "--from", "sqlite://" + orig},
	} {
		r := run(empty, args...)
		if r.code != 3 || !strings.Contains(r.stderr, filepath.Join(empty, "db.sqlite")) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
			t.Errorf("%v in an empty directory: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if left := entries(empty); len(left) != 0 {
			t.Fatalf("%v left %v behind", args, left)
		}
	}

	// A store that exists, its key file gone: serve refuses, writes no key.
	dir := t.TempDir()
	srv := testserver.Start(t, map[string]string{"STORAGE_CONNECTION": "sqlite://" + filepath.Join(dir, "db.sqlite")})
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "db.sqlite.key")); err != nil {
		t.Fatal(err)
	}
	r := run(dir, "serve", "--listen", "127.0.0.1:0")
	if r.code == 0 || !strings.Contains(r.stderr, "db.sqlite.key") {
		t.Errorf("serve without its key file: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "db.sqlite.key")); err == nil {
		t.Error("serve wrote a new key file beside a database it cannot open")
	}

	// A port in use: serve fails before it makes a store.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fresh := t.TempDir()
	if r := run(fresh, "serve", "--listen", ln.Addr().String()); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("serve on a port in use: exit %d, %q", r.code, r.stderr)
	}
	if left := entries(fresh); len(left) != 0 {
		t.Errorf("a serve that could not listen left %v", left)
	}
}
