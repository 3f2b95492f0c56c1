package e2e_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// TestCurlWalkthrough follows the README's curl section: a body from
// `login --print-body` is accepted once, and its token sets and gets.
func TestCurlWalkthrough(t *testing.T) {
	srv := testserver.Start(t, testserver.Config("sqlite://"+filepath.Join(t.TempDir(), "w.sqlite")))
	a := api{t, srv.URL}
	keypair := filepath.Join(t.TempDir(), "id.json")
	cli := func(args ...string) string {
		cmd := exec.Command(testserver.Binary(t), args...)
		cmd.Env = append(testserver.Env(t, nil), "NOSANA_SECRETS_KEYPAIR="+keypair, "NOSANA_SECRETS_ENDPOINT="+srv.URL)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	cli("keygen")
	body := cli("login", "--print-body")
	r := a.do("POST", "/login", "", body)
	if r.status != 200 {
		t.Fatalf("login with the printed body: %d %s", r.status, r.body)
	}
	tok := "Bearer " + r.field(t, "token")
	a.expect(a.do("POST", "/login", "", body), 400, "ValidationError", "used already")
	a.expect(a.do("POST", "/secrets", tok, `{"secrets": {"DB_PASSWORD": "hunter2", "replicas": 3, "ci/ssh-key": "k"}}`), 200, "", "")
	if r := a.do("GET", "/secrets/DB_PASSWORD", tok, nil); string(r.body) != `"hunter2"` {
		t.Errorf("get: %s", r.body)
	}
	if r := a.do("GET", "/secrets/ci%2Fssh-key", tok, nil); string(r.body) != `"k"` {
		t.Errorf("escaped key: %s", r.body)
	}
	if r := a.do("GET", "/secrets?prefix=ci/", tok, nil); string(r.body) != `{"ci/ssh-key":"k"}` {
		t.Errorf("prefix: %s", r.body)
	}
}
