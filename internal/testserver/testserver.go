// Package testserver builds the real nosana-secrets binary once per test
// process and starts `serve` on a free loopback port, for end-to-end tests.
package testserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/lockedio"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the nosana-secrets binary (once per test process) and
// returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "nosana-secrets-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nosana-secrets")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = root
		cmd.Env = toolEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a running `nosana-secrets serve`.
type Server struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	logs *lockedio.Buffer
	done chan struct{}
	err  error
}

// passEnv are the only inherited variables a process started by a test
// sees: what the runtime and the system need. No setting of serve or of
// the CLI, and no credential of the developer's, gets through, whatever
// the caller's environment holds.
var passEnv = []string{
	"PATH", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE",
	"GOCOVERDIR", "GORACE", "GODEBUG", "GOTRACEBACK", "SSL_CERT_FILE", "SSL_CERT_DIR",
}

// Env returns a clean environment built from passEnv, with a HOME of t's
// own (so nothing a process runs reads or writes the real one), plus env.
func Env(t testing.TB, env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if hasAnyPrefix(kv, passEnv) {
			out = append(out, kv)
		}
	}
	out = privateHome(t, out)
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Start runs serve with env and extra args, waits until it listens, and
// stops it (SIGTERM) when the test ends, failing the test if it exits badly.
func Start(t testing.TB, env map[string]string, args ...string) *Server {
	t.Helper()
	s, err := start(t, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("serve did not stop cleanly: %v\nlogs:\n%s", err, s.Logs())
		}
	})
	return s
}

// TryStart runs serve like Start but returns an error, with the logs, when
// it exits before listening. A server it returns is stopped at cleanup.
func TryStart(t testing.TB, env map[string]string, args ...string) (*Server, error) {
	t.Helper()
	s, err := start(t, env, args...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s, nil
}

// StartFail runs serve expecting it to exit before listening, and returns
// its exit code and stderr.
func StartFail(t testing.TB, env map[string]string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = Env(t, env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve kept running; logs:\n%s", stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func start(t testing.TB, env map[string]string, args ...string) (*Server, error) {
	cmd := exec.Command(Binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = Env(t, env)
	pr, pw := io.Pipe()
	s := &Server{cmd: cmd, logs: lockedio.NewBuffer(), done: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(s.logs, pw)
	cmd.Stdout = s.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		s.Addr = a
		s.URL = "http://" + a
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("serve exited before listening (%v); logs:\n%s", s.err, s.logs.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("serve did not listen within 60s; logs:\n%s", s.logs.String())
	}
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Logs returns everything serve wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// Signal sends sig to the server process.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// ExitCode is the exit code once Done is closed.
func (s *Server) ExitCode() int { return s.cmd.ProcessState.ExitCode() }

// Stop sends SIGTERM and waits up to 30 s; it reports a non-zero exit.
func (s *Server) Stop() error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("still running 30s after SIGTERM")
		}
	}
	if s.err != nil {
		return s.err
	}
	return nil
}

// TestJWTSecret and TestMasterKey are the fixed keys of test servers, so
// that every test process sharing a test database agrees on them.
const (
	TestJWTSecret = "nosana-secrets-test-jwt-thirty-two-bytes"
	TestMasterKey = "bm9zYW5hLXNlY3JldHMtdGVzdC1tYXN0ZXIta2V5ISE=" // 32 bytes
)

// Config is the environment of a test server on storage uri.
func Config(uri string) map[string]string {
	return map[string]string{
		"STORAGE_CONNECTION": uri,
		"JWT_SECRET":         TestJWTSecret,
		"MASTER_KEY":         TestMasterKey,
		"LOG_LEVEL":          "debug",
	}
}

// Requests returns how many requests of route (an echo path such as
// "/login") the server has answered, from its /metrics. Unlike the log it is
// exact at any moment.
func (s *Server) Requests(t testing.TB, route string) int {
	t.Helper()
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "nosana_secrets_http_requests_total{") || !strings.Contains(line, `route="`+route+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		n += int(v)
	}
	return n
}

// Reply is an HTTP answer read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request: body is nil, a string, []byte, or a value sent as
// JSON; auth, when set, is the Authorization header as given.
func Do(t testing.TB, method, url, auth string, body any) Reply {
	t.Helper()
	r, err := TryDo(http.DefaultClient, method, url, auth, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TryDo is Do with client, returning what fails instead of failing a test.
func TryDo(client *http.Client, method, url, auth string, body any) (Reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Reply{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return Reply{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Reply{}, err
	}
	return Reply{res.StatusCode, res.Header, b}, nil
}
