package e2e_test

import (
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestServeDev: `serve --dev` needs no configuration, keeps secrets in
// memory only (a restart starts empty), says so, and listens on loopback
// only.
func TestServeDev(t *testing.T) {
	// Settings that would otherwise be used are ignored, not read.
	env := map[string]string{"STORAGE_CONNECTION": "postgres://nowhere.invalid/db", "MASTER_KEY_FILE": "/nonexistent"}
	srv := testserver.Start(t, env, "--dev")
	a := api{t, srv.URL}
	w := authtest.NewWallet()
	tok := a.login(w)
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"k":"v"}}`), 200, "", "")
	if r := a.do("GET", "/secrets/k", tok, nil); string(r.body) != `"v"` {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if logs := srv.Logs(); !strings.Contains(logs, "NOTHING PERSISTS") || !strings.Contains(logs, "export NOSANA_SECRETS_ENDPOINT=http://localhost:") {
		t.Errorf("no dev banner in:\n%s", logs)
	}

	srv = testserver.Start(t, env, "--dev")
	a = api{t, srv.URL}
	// A token of the last process is refused: its JWT secret was random.
	a.expect(a.do("GET", "/secrets", tok, nil), 403, "ForbiddenError", "")
	if r := a.do("GET", "/secrets", a.login(w), nil); string(r.body) != `{}` {
		t.Errorf("a new dev server holds %s", r.body)
	}

	code, stderr := testserver.StartFail(t, env, "--dev", "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(lastLine(stderr), "loopback only") {
		t.Errorf("--dev on all interfaces: exit %d: %s", code, lastLine(stderr))
	}
}
