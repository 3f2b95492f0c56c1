// Package e2e drives the real nosana-secrets binary over real HTTP on every
// storage backend.
package e2e_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// backend names a storage backend and how a test gets its URI.
type backend struct {
	name string
	uri  func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "e2e.sqlite") }},
	{"postgres", func(t *testing.T) string { return storagetest.URI(t, "postgres") }},
	{"mysql", func(t *testing.T) string { return storagetest.URI(t, "mysql") }},
	{"redis", func(t *testing.T) string { return storagetest.URI(t, "redis") }},
	{"redis_cluster", func(t *testing.T) string { return storagetest.URI(t, "redis_cluster") }},
	{"mongodb", func(t *testing.T) string { return storagetest.MongoDB(t) }},
}

type api struct {
	t   *testing.T
	url string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) field(t *testing.T, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	s, _ := m[name].(string)
	return s
}

func (a api) do(method, path, token string, body any) reply {
	a.t.Helper()
	r := testserver.Do(a.t, method, a.url+path, token, body)
	return reply{r.Status, r.Header, r.Body}
}

// startSignedIn starts serve with env and signs w in there: the server,
// its API and w's token.
func startSignedIn(t *testing.T, env map[string]string, w authtest.Wallet) (*testserver.Server, api, string) {
	t.Helper()
	srv := testserver.Start(t, env)
	a := api{t, srv.URL}
	return srv, a, a.login(w)
}

func (a api) login(w authtest.Wallet) string {
	a.t.Helper()
	r := a.do("POST", "/login", "", w.LegacyLogin(time.Now().Unix()))
	if r.status != 200 {
		a.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return "Bearer " + r.field(a.t, "token")
}

// expect checks a status and, for errors, the legacy body's type and message.
func (a api) expect(r reply, status int, typ, msg string) {
	a.t.Helper()
	if r.status != status {
		a.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if typ == "" {
		return
	}
	if got := r.field(a.t, "type"); got != typ {
		a.t.Errorf("type %q, want %q: %s", got, typ, r.body)
	}
	if got := r.field(a.t, "message"); !strings.Contains(got, msg) {
		a.t.Errorf("message %q, want %q", got, msg)
	}
}

// runRekey runs `nosana-secrets rekey` with env and returns what it wrote
// (stdout and stderr), failing t if it fails.
func runRekey(t *testing.T, env map[string]string) string {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), "rekey")
	cmd.Env = testserver.Env(t, env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rekey: %v\n%s", err, out)
	}
	return string(out)
}
