package cmd_test

import (
	"os"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth/oidctest"
)

// TestAccessTokenVerbs: the owner makes a read-only token for ci/ with
// the real binary; a CI user with no keypair reads with it through
// NOSANA_SECRETS_TOKEN and is refused elsewhere; a revoked token stops.
func TestAccessTokenVerbs(t *testing.T) {
	srv, owner := startOwner(t)
	owner.expect(0, "ci/a\nother\n", "", "set", "ci/a=A", "other=O")
	r := owner.run("", "token", "create", "ci", "--prefix", "ci/", "--ttl", "30d")
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(tok, "nst_") || strings.Count(r.stdout, "\n") != 1 || strings.Contains(r.stderr, tok) {
		t.Fatalf("token create: %+v", r)
	}
	r = owner.run("", "token", "list")
	fields := strings.Split(strings.TrimSpace(r.stdout), "\t")
	if r.code != 0 || len(fields) != 6 || fields[1] != "ci" || fields[2] != "ci/" || fields[3] != "read" || strings.Contains(r.stdout, tok) {
		t.Fatalf("token list: %+v", r)
	}
	id := fields[0]

	ci := newUser(t, srv.URL) // no keypair at all
	ci.extra = []string{"NOSANA_SECRETS_TOKEN=" + tok}
	ci.expect(0, "A", "", "get", "ci/a")
	ci.expect(0, "ci/a\n", "", "list")
	ci.expect(0, "A\n", "", "run", "--", "sh", "-c", `printf '%s\n' "$ci_a"`)
	if r := ci.expect(4, "", "", "get", "other"); !strings.Contains(r.stderr, "ci/") {
		t.Errorf("outside the prefix: %q", r.stderr)
	}
	ci.expect(4, "", "", "set", "ci/b=B")
	ci.expect(4, "", "", "token", "list")
	for _, s := range append(ci.stderrs, owner.stderrs...) {
		if strings.Contains(s, tok) {
			t.Fatalf("stderr holds the token: %q", s)
		}
	}

	owner.expect(0, "", "", "token", "revoke", id)
	if r := ci.expect(4, "", "", "get", "ci/a"); !strings.Contains(r.stderr, "revoked") {
		t.Errorf("revoked: %q", r.stderr)
	}
	owner.expect(3, "", "", "token", "revoke", "0123456789abcdef")
}

// TestOIDCLogin: a GitHub Actions job (faked: the token service and the
// issuer, over HTTPS trusted through SSL_CERT_FILE) signs in with
// login --oidc and no keypair, and the next step reads with the token it
// left in $GITHUB_ENV.
func TestOIDCLogin(t *testing.T) {
	iss := oidctest.New(t)
	ca := iss.CertFile(t, t.TempDir())
	srv := startServer(t, map[string]string{"OIDC_ISSUERS": iss.URL, "SSL_CERT_FILE": ca})
	owner := newUser(t, srv.URL)
	address := owner.keygen()
	owner.expect(0, "deploy/key\n", "", "set", "deploy/key=K")
	// trust github names GitHub's issuer by default, which this server
	// does not accept here; --issuer names the fake one.
	if r := owner.run("", "trust", "github", "--repo", "org/repo"); r.code != 1 || !strings.Contains(r.stderr, "OIDC_ISSUERS") {
		t.Fatalf("trust of an issuer the server does not accept: %+v", r)
	}
	owner.run("", "trust", "github", "--repo", "org/repo", "--ref", "refs/heads/main", "--prefix", "deploy/", "--issuer", iss.URL)
	if r := owner.run("", "trust", "list"); r.code != 0 || !strings.Contains(r.stdout, "repository=org/repo") {
		t.Fatalf("trust list: %+v", r)
	}

	ci := newUser(t, srv.URL)
	envFile := ci.home + "/github_env"
	ci.extra = []string{"SSL_CERT_FILE=" + ca, "ACTIONS_ID_TOKEN_REQUEST_URL=" + iss.ActionsURL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + iss.ActionsToken, "GITHUB_ENV=" + envFile}
	r := ci.run("", "login", "--oidc", "--owner", address)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "::add-mask::nst_") {
		t.Fatalf("login --oidc: %+v", r)
	}
	tok := strings.TrimSpace(strings.TrimPrefix(r.stdout, "::add-mask::"))
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	if env != "NOSANA_SECRETS_TOKEN="+tok+"\n" {
		t.Fatalf("GITHUB_ENV: %q", env)
	}
	ci.extra = append(ci.extra, strings.TrimSpace(env))
	ci.expect(0, "K\n", "", "run", "--", "sh", "-c", `printf '%s\n' "$deploy_key"`)

	// Another repository's job is refused.
	iss.ActionsRepo = "org/other"
	if r := ci.run("", "login", "--oidc", "--owner", address); r.code != 4 || !strings.Contains(r.stderr, "no trust") {
		t.Fatalf("other repository: %+v", r)
	}
	// Outside Actions: a clear error.
	plain := newUser(t, srv.URL)
	if r := plain.run("", "login", "--oidc", "--owner", address); r.code != 4 || !strings.Contains(r.stderr, "GitHub Actions") {
		t.Fatalf("outside Actions: %+v", r)
	}
}
