package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestGracefulShutdown: a request in flight when SIGTERM arrives finishes
// and is stored; the process then exits 0 and the data survives a restart.
func TestGracefulShutdown(t *testing.T) {
	uri := "sqlite://" + t.TempDir() + "/g.sqlite"
	srv := testserver.Start(t, testserver.Config(uri))
	a := api{t, srv.URL}
	w := authtest.NewWallet()
	tok := a.login(w)

	// With Expect: 100-continue the server answers "100 Continue" when the
	// handler first reads the body: the signal that it is reading ours.
	reading := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", srv.URL+"/secrets", pr)
	req.Header.Set("Authorization", tok)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	done := make(chan *http.Response, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			t.Errorf("request in flight failed: %v", err)
			done <- nil
			return
		}
		done <- res
	}()
	select {
	case <-reading:
	case res := <-done:
		t.Fatalf("answered before reading the body: %v", res)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never read the body")
	}
	fmt.Fprint(pw, `{"secrets":{"in-flight":`)
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The server has begun its shutdown while our request is in flight.
	eventually(t, func() bool { return strings.Contains(srv.Logs(), "shutting down: finishing requests in flight") })
	fmt.Fprint(pw, `"landed"}}`)
	pw.Close()
	if res := <-done; res == nil || res.StatusCode != 200 {
		t.Fatalf("in-flight request: %v", res)
	}
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("serve still running 10s after SIGTERM")
	}
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; logs:\n%s", code, srv.Logs())
	}
	// New connections are refused once it has stopped.
	if _, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		t.Error("still accepting connections")
	}
	again := testserver.Start(t, testserver.Config(uri))
	a2 := api{t, again.URL}
	if r := a2.do("GET", "/secrets/in-flight", a2.login(w), nil); string(r.body) != `"landed"` {
		t.Errorf("after restart: %d %s", r.status, r.body)
	}
}

// TestStartupErrors: a bad STORAGE_CONNECTION stops serve with one line that
// names the problem and never the password.
func TestStartupErrors(t *testing.T) {
	cases := []struct{ uri, want string }{
		{"ftp://user:hunter2pw@host/db", "ftp"},
		{"nonsense", "scheme"},
		{"postgres://postgres:hunter2pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "127.0.0.1:1"},
		{"mysql://root:hunter2pw@127.0.0.1:1/db", "127.0.0.1:1"},
		{"redis://:hunter2pw@127.0.0.1:1/0", "127.0.0.1:1"},
		{"mongodb://u:hunter2pw@127.0.0.1:1/db?serverSelectionTimeoutMS=1000", "127.0.0.1:1"},
		{"sqlite:///nonexistent-dir/sub/db.sqlite", "nonexistent-dir"},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			code, stderr := testserver.StartFail(t, map[string]string{"STORAGE_CONNECTION": c.uri, "JWT_SECRET": testserver.TestJWTSecret})
			if code == 0 {
				t.Fatalf("exit code 0; stderr:\n%s", stderr)
			}
			last := lastLine(stderr)
			if !strings.HasPrefix(last, "nosana-secrets: ") || !strings.Contains(last, c.want) {
				t.Errorf("last line %q, want a one-line error naming %q", last, c.want)
			}
			if strings.Contains(stderr, "hunter2pw") {
				t.Errorf("the password is printed: %s", stderr)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("a stack trace: %s", stderr)
			}
		})
	}
	code, stderr := testserver.StartFail(t, map[string]string{"STORAGE_CONNECTION": "sqlite://x.sqlite", "LOGIN_WINDOW": "soon"})
	if code != 2 || !strings.Contains(stderr, "LOGIN_WINDOW") {
		t.Errorf("bad LOGIN_WINDOW: exit %d, %s", code, stderr)
	}
}

// TestShortJWTSecretRefused: a JWT_SECRET or JWT_SECRET_FILE shorter than
// 32 bytes (brute-forced from one token in no time) stops serve with one
// line that says how to make a good one, and never shows the secret.
func TestShortJWTSecretRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jwt")
	if err := os.WriteFile(file, []byte("shortsecret-in-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := "sqlite://" + filepath.Join(dir, "j.sqlite")
	for _, env := range []map[string]string{
		{"STORAGE_CONNECTION": uri, "JWT_SECRET": "x"},
		{"STORAGE_CONNECTION": uri, "JWT_SECRET": "shortsecret-31-bytes-long-xxxxx"},
		{"STORAGE_CONNECTION": uri, "JWT_SECRET_FILE": file},
	} {
		code, stderr := testserver.StartFail(t, env)
		last := lastLine(stderr)
		if code != 2 || !strings.Contains(last, "JWT_SECRET") || !strings.Contains(last, "openssl rand -base64 32") {
			t.Errorf("%v: exit %d, last line %q", env, code, last)
		}
		if strings.Contains(stderr, "shortsecret") {
			t.Errorf("the secret is printed: %s", stderr)
		}
	}
	srv := testserver.Start(t, map[string]string{"STORAGE_CONNECTION": uri, "JWT_SECRET": "k0Zp-32-byte-signing-key-for-test"})
	if r := testserver.Do(t, "GET", srv.URL+"/health", "", nil); r.Status != 200 {
		t.Errorf("a 32-byte secret: %d", r.Status)
	}
}

// TestWeakJWTSecretRefused: a JWT_SECRET long enough but visibly guessable
// (one byte repeated, a short pattern repeated, few distinct bytes, the
// changeme/secret/password family) stops serve with exit 2 and a last line
// that names the setting and says how to make a key, without the key; a
// key from /dev/urandom, as the message says, starts.
func TestWeakJWTSecretRefused(t *testing.T) {
	dir := t.TempDir()
	uri := "sqlite://" + filepath.Join(dir, "w.sqlite")
	file := filepath.Join(dir, "jwt")
	if err := os.WriteFile(file, []byte(strings.Repeat("changeme", 5)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	weak := []string{
		strings.Repeat("a", 36),
		"changemechangemechangemechangeme",
		strings.Repeat("abc", 12),
		strings.Repeat("0123456789abcdef", 2), // 16 distinct bytes, twice
		"1111111122222222333333334444444455",  // 5 distinct bytes
		"secret-password-12345678901234567",
		"ChangeMe!Secret!Password!2026-jwt-key",
	}
	for _, key := range weak {
		code, stderr := testserver.StartFail(t, map[string]string{"STORAGE_CONNECTION": uri, "JWT_SECRET": key})
		last := lastLine(stderr)
		if code != 2 || !strings.Contains(last, "JWT_SECRET looks guessable") || !strings.Contains(last, "head -c 32 /dev/urandom | base64") {
			t.Errorf("JWT_SECRET of %d bytes: exit %d, last line %q", len(key), code, last)
		}
		if strings.Contains(stderr, key) || strings.Contains(stderr, key[:12]) {
			t.Errorf("the secret is printed: %s", stderr)
		}
	}
	code, stderr := testserver.StartFail(t, map[string]string{"STORAGE_CONNECTION": uri, "JWT_SECRET_FILE": file})
	if last := lastLine(stderr); code != 2 || !strings.Contains(last, "JWT_SECRET_FILE "+file+" looks guessable") || strings.Contains(stderr, "changemechangeme") {
		t.Errorf("weak JWT_SECRET_FILE: exit %d, %q", code, last)
	}

	random := make([]byte, 32)
	rand.Read(random)
	srv := testserver.Start(t, map[string]string{"STORAGE_CONNECTION": uri, "JWT_SECRET": base64.StdEncoding.EncodeToString(random)})
	if r := testserver.Do(t, "GET", srv.URL+"/health", "", nil); r.Status != 200 {
		t.Errorf("a random secret: %d", r.Status)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestReadyzFollowsTheStore runs a Redis of its own, stops it under a
// running serve and starts it again: /readyz is 503 while it is down and
// 200 once it is back, with no restart of serve; /livez stays 200.
func TestReadyzFollowsTheStore(t *testing.T) {
	redis := fault.StartRedis(t)
	srv := testserver.Start(t, testserver.Config(redis.URI(0)))
	a := api{t, srv.URL}
	a.expect(a.do("GET", "/readyz", "", nil), 200, "", "")
	tok := a.login(authtest.NewWallet())
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"k":"hunter2-before"}}`), 200, "", "")

	redis.Stop()
	eventually(t, func() bool { return a.do("GET", "/readyz", "", nil).status == 503 })
	a.expect(a.do("GET", "/livez", "", nil), 200, "", "")
	// Reads and writes while the store is down: a plain 503 (try again),
	// nothing more.
	for _, r := range []reply{a.do("GET", "/secrets/k", tok, nil), a.do("POST", "/secrets", tok, `{"secrets":{"k":"v"}}`)} {
		a.expect(r, 503, "InternalServerError", "storage is unavailable")
		if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "127.0.0.1") {
			t.Errorf("a store fault answered with detail: %s", r.body)
		}
	}

	redis.Start()
	eventually(t, func() bool { return a.do("GET", "/readyz", "", nil).status == 200 })
	// And it serves again, with the same token.
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"k":"v"}}`), 200, "", "")
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, 20*time.Second, 100*time.Millisecond, cond)
}
