package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// mint creates an access token as the owner's wallet token and returns it
// as an Authorization value, with its id.
func (e *env) mint(owner, name, prefix string, write bool) (string, string) {
	e.t.Helper()
	r := e.do("POST", "/v1/tokens", owner, map[string]any{"name": name, "prefix": prefix, "write": write})
	if r.status != 201 {
		e.t.Fatalf("mint: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	return "Bearer " + m["token"].(string), m["id"].(string)
}

func wantRefusal(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.status, status, r.body)
		return
	}
	if code != "" {
		if got := r.json(t)["code"]; got != code {
			t.Errorf("%s: code %v, want %s: %s", what, got, code, r.body)
		}
	}
}

// scopeCases checks that a read-only token under "ci/" reads and lists
// only there, and writes nowhere, on the legacy and the v1 routes; and that
// a write token writes under its prefix only.
func scopeCases(t *testing.T, e *env) {
	w := authtest.NewWallet()
	owner := e.login(w)
	if r := e.do("POST", "/secrets", owner, map[string]any{"secrets": map[string]any{"ci/a": "A", "ci/b": 2, "other": "O"}}); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	ro, _ := e.mint(owner, "reader", "ci/", false)
	rw, _ := e.mint(owner, "writer", "ci/", true)

	// Reads and listings inside the prefix.
	if r := e.do("GET", "/secrets/ci%2Fa", ro, nil); r.status != 200 || string(r.body) != `"A"` {
		t.Errorf("legacy get: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets", ro, nil); r.status != 200 || string(r.body) != `{"ci/a":"A","ci/b":2}` {
		t.Errorf("legacy list narrowed to the prefix: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/secrets/ci%2Fb", ro, nil); r.status != 200 || r.json(t)["value"] != float64(2) {
		t.Errorf("v1 get: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/secret?key=ci%2Fb", ro, nil); r.status != 200 {
		t.Errorf("v1 get by query: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/secrets", ro, nil); r.status != 200 || strings.Contains(string(r.body), "other") || !strings.Contains(string(r.body), "ci/a") {
		t.Errorf("v1 list narrowed to the prefix: %d %s", r.status, r.body)
	}
	// Outside the prefix, and writes with the read-only one.
	for _, c := range []struct {
		what, method, path string
		tok                string
		body               any
	}{
		{"legacy get outside", "GET", "/secrets/other", ro, nil},
		{"legacy list outside", "GET", "/secrets?prefix=oth", ro, nil},
		{"legacy set read-only", "POST", "/secrets", ro, map[string]any{"secrets": map[string]any{"ci/new": 1}}},
		{"legacy delete read-only", "DELETE", "/secrets", ro, map[string]any{"key": "ci/a"}},
		{"v1 get outside", "GET", "/v1/secrets/other", ro, nil},
		{"v1 get outside by query", "GET", "/v1/secret?key=other", ro, nil},
		{"v1 list outside", "GET", "/v1/secrets?prefix=o", ro, nil},
		{"v1 put read-only", "PUT", "/v1/secrets/ci%2Fa", ro, map[string]any{"value": 1}},
		{"v1 delete read-only", "DELETE", "/v1/secrets/ci%2Fa", ro, nil},
		{"legacy set outside", "POST", "/secrets", rw, map[string]any{"secrets": map[string]any{"other": 1}}},
		{"legacy set outside by prefix", "POST", "/secrets", rw, map[string]any{"prefix": "x/", "secrets": map[string]any{"ci/": 1}}},
		{"legacy delete outside", "DELETE", "/secrets", rw, map[string]any{"key": []string{"ci/a", "other"}}},
		{"v1 put outside", "PUT", "/v1/secrets/other", rw, map[string]any{"value": 1}},
		{"v1 delete outside", "DELETE", "/v1/secret?key=other", rw, nil},
		// Owner-only routes.
		{"versions", "GET", "/v1/secrets/ci%2Fa/versions", rw, nil},
		{"version read", "GET", "/v1/secrets/ci%2Fa?version=1", rw, nil},
		{"restore", "POST", "/v1/secrets/ci%2Fa/restore", rw, map[string]any{"version": 1}},
		{"restore as of", "POST", "/v1/restore", rw, map[string]any{"as_of": time.Now().UTC().Format(time.RFC3339)}},
		{"as of listing", "GET", "/v1/secrets?as_of=" + url.QueryEscape(time.Now().UTC().Format(time.RFC3339)), rw, nil},
		{"audit", "GET", "/v1/audit", rw, nil},
		{"destroy", "DELETE", "/v1/secrets/ci%2Fa?destroy=true", rw, nil},
		{"mint", "POST", "/v1/tokens", rw, map[string]any{"name": "x"}},
		{"list tokens", "GET", "/v1/tokens", rw, nil},
		{"revoke", "DELETE", "/v1/tokens/0123456789abcdef", rw, nil},
		{"trusts", "GET", "/v1/trusts", rw, nil},
		{"trust", "POST", "/v1/trusts", rw, map[string]any{"name": "x", "claims": map[string]string{"repository": "o/r"}}},
		{"job definitions", "GET", "/v1/job-definitions", rw, nil},
		{"job definition", "GET", "/v1/job-definitions/ci", rw, nil},
		{"job definition put", "PUT", "/v1/job-definitions/ci", rw, map[string]any{"version": "0.1", "type": "container", "ops": []any{}}},
		{"job definition delete", "DELETE", "/v1/job-definitions/ci", rw, nil},
	} {
		wantRefusal(t, c.what, e.do(c.method, c.path, c.tok, c.body), 403, errcode.TokenScope)
	}
	// Nothing outside was written or deleted.
	if r := e.do("GET", "/secrets", owner, nil); string(r.body) != `{"ci/a":"A","ci/b":2,"other":"O"}` {
		t.Errorf("after the refusals: %s", r.body)
	}
	// The write token writes inside.
	if r := e.do("POST", "/secrets", rw, map[string]any{"prefix": "ci/", "secrets": map[string]any{"c": 3}}); r.status != 200 {
		t.Errorf("legacy set inside: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/v1/secrets/ci%2Fd", rw, map[string]any{"value": 4}); r.status != 200 {
		t.Errorf("v1 put inside: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/secrets", rw, map[string]any{"key": "ci/c"}); r.status != 200 {
		t.Errorf("legacy delete inside: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/secrets/ci%2Fd", rw, nil); r.status != 200 {
		t.Errorf("v1 delete inside: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets", owner, nil); string(r.body) != `{"ci/a":"A","ci/b":2,"other":"O"}` {
		t.Errorf("after the writes: %s", r.body)
	}
}

func TestAccessTokenScope(t *testing.T) {
	scopeCases(t, newEnv(t))
}

// TestAccessTokenScopeBackends runs the scope cases on every backend.
func TestAccessTokenScopeBackends(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString(testserver.TestMasterKey)
	for _, b := range []struct {
		name string
		uri  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return storagetest.URI(t, "postgres") }},
		{"mysql", func(t *testing.T) string { return storagetest.URI(t, "mysql") }},
		{"redis", func(t *testing.T) string { return ownKeyPrefix(storagetest.URI(t, "redis")) }},
		{"mongodb", func(t *testing.T) string { return storagetest.MongoDB(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			e := newEnvOn(t, b.uri(t), key)
			scopeCases(t, e)
			noTokenStored(t, e)
		})
	}
}

func ownKeyPrefix(uri string) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "key_prefix=" + storagetest.Unique("tok") + ":"
}

// noTokenStored mints a token, uses it, and looks for it (and its secret
// half) in every record the backend holds below the seal layer: only its
// hash may be there.
func noTokenStored(t *testing.T, e *env) {
	t.Helper()
	owner := e.login(authtest.NewWallet())
	tok, id := e.mint(owner, "dump", "", false)
	e.do("GET", "/secrets", tok, nil)
	raw := strings.TrimPrefix(tok, "Bearer ")
	secret := raw[len("nst_")+17:]
	ctx := t.Context()
	meta, err := e.store.GetMeta(ctx, "access-token:"+id)
	if err != nil {
		t.Fatalf("the token's meta record: %v", err)
	}
	var dump strings.Builder
	dump.Write(meta)
	_ = e.store.Walk(ctx, func(owner string, s storage.Secret) error {
		fmt.Fprintf(&dump, "%s %s %s\n", owner, s.Name, s.Value)
		return nil
	})
	if strings.Contains(dump.String(), raw) || strings.Contains(dump.String(), secret) {
		t.Error("the store holds the token itself")
	}
	if !strings.Contains(string(meta), `"hash":"`) {
		t.Errorf("the meta record holds no hash: %s", meta)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("a log line holds the token")
	}
}

func TestAccessTokenLifecycle(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	owner := e.login(w)
	e.do("POST", "/secrets", owner, map[string]any{"secrets": map[string]any{"k": "v"}})
	tok, id := e.mint(owner, "ci deploy", "", false)

	if r := e.do("GET", "/secrets/k", tok, nil); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/whoami", tok, nil); r.status != 200 || r.json(t)["scope"] != "token" {
		t.Errorf("whoami: %d %s", r.status, r.body)
	}
	// The list never holds the token.
	r := e.do("GET", "/v1/tokens", owner, nil)
	if r.status != 200 || !strings.Contains(string(r.body), id) || strings.Contains(string(r.body), strings.TrimPrefix(tok, "Bearer ")) || strings.Contains(string(r.body), "hash") {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	// A job token cannot mint.
	job, _, _ := e.tokens.Issue(auth.Claims{Address: w.Addr, UserAddress: w.Addr, Secrets: []string{"k"}, Job: "J"}, time.Time{})
	if r := e.do("POST", "/v1/tokens", "Bearer "+job, map[string]any{"name": "x"}); r.status != 403 {
		t.Errorf("mint with a job token: %d %s", r.status, r.body)
	}
	// Bad input.
	wantRefusal(t, "no name", e.do("POST", "/v1/tokens", owner, map[string]any{}), 400, errcode.InvalidRequest)
	wantRefusal(t, "ttl over a year", e.do("POST", "/v1/tokens", owner, map[string]any{"name": "x", "ttl": "366d"}), 400, errcode.InvalidRequest)
	wantRefusal(t, "bad ttl", e.do("POST", "/v1/tokens", owner, map[string]any{"name": "x", "ttl": "soon"}), 400, errcode.InvalidRequest)
	wantRefusal(t, "forged token", e.do("GET", "/secrets", "Bearer nst_"+id+"_"+strings.Repeat("0", 64), nil), 403, errcode.TokenInvalid)
	wantRefusal(t, "malformed token", e.do("GET", "/secrets", "Bearer nst_xyz", nil), 403, errcode.TokenInvalid)
	// Another owner cannot revoke it.
	wantRefusal(t, "other owner's revoke", e.do("DELETE", "/v1/tokens/"+id, e.login(authtest.NewWallet()), nil), 404, errcode.TokenNotFound)
	wantRefusal(t, "unknown id", e.do("DELETE", "/v1/tokens/0123456789abcdef", owner, nil), 404, errcode.TokenNotFound)

	// Revoked: refused at once on this replica.
	if r := e.do("DELETE", "/v1/tokens/"+id, owner, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantRefusal(t, "revoked", e.do("GET", "/secrets/k", tok, nil), 403, errcode.TokenRevoked)
	if r := e.do("GET", "/v1/tokens", owner, nil); strings.Contains(string(r.body), id) {
		t.Errorf("a revoked token is still listed: %s", r.body)
	}

	// Expired.
	tok2, _ := e.mint(owner, "short", "", false)
	e.now = e.now.Add(721 * time.Hour)
	wantRefusal(t, "expired", e.do("GET", "/secrets/k", tok2, nil), 403, errcode.TokenExpired)
	owner = e.login(w)

	// The audit log names the token and records minting and revoking.
	r = e.do("GET", "/v1/audit", owner, nil)
	body := string(r.body)
	for _, want := range []string{`"action":"token_create"`, `"action":"token_revoke"`, `"actor":"token ` + id + ` (ci deploy)"`} {
		if !strings.Contains(body, want) {
			t.Errorf("audit log lacks %s: %s", want, body)
		}
	}
	noTokenStored(t, e)
}

// TestRevocationAcrossReplicas: two servers on one PostgreSQL; a token
// revoked on one is refused by the other within a second. The time it
// took is logged.
func TestRevocationAcrossReplicas(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString(testserver.TestMasterKey)
	uri := storagetest.URI(t, "postgres")
	a := newEnvOn(t, uri, key)
	b := newEnvOn(t, uri, key)
	b.now = a.now
	w := authtest.NewWallet()
	owner := a.login(w)
	a.do("POST", "/secrets", owner, map[string]any{"secrets": map[string]any{"k": "v"}})
	tok, id := a.mint(owner, "replicas", "", false)
	// b has it cached: it read it once, a moment ago.
	for range 3 {
		if r := b.do("GET", "/secrets/k", tok, nil); r.status != 200 {
			t.Fatalf("read on the other replica: %d %s", r.status, r.body)
		}
	}
	if r := a.do("DELETE", "/v1/tokens/"+id, owner, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	start := time.Now()
	for {
		// b's clock follows real time here: its cache entry ages.
		b.now = a.now.Add(time.Since(start))
		r := b.do("GET", "/secrets/k", tok, nil)
		if r.status == 403 {
			if code := r.json(t)["code"]; code != errcode.TokenRevoked {
				t.Fatalf("code %v", code)
			}
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the other replica still accepts the revoked token after 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("revocation held on the other replica after %v", took)
	if took > time.Second {
		t.Errorf("revocation took %v on the other replica, more than 1 s", took)
	}
}

// Public routes answer an access token as any valid token; an unknown
// route is still a 404.
func TestAccessTokenPublicRoutes(t *testing.T) {
	e := newEnv(t)
	owner := e.login(authtest.NewWallet())
	tok, _ := e.mint(owner, "public", "x/", false)
	for _, p := range []string{"/", "/health", "/livez", "/v1/openapi.json", "/v1/audit/key"} {
		if r := e.do("GET", p, tok, nil); r.status != 200 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	wantRefusal(t, "no route", e.do("GET", "/no/such", tok, nil), 404, errcode.NoRoute)
}

// TestRestoredTokenRevokes: a restore into another store carries the
// owner's token list but not the records tokens are checked against. Such a
// token is refused, still listed, and revoking takes it off the list.
func TestRestoredTokenRevokes(t *testing.T) {
	a, b := newEnv(t), newEnv(t) // one master key: a sealed record moves as is
	w := authtest.NewWallet()
	tok, id := a.mint(a.login(w), "ci", "", false)
	ctx := context.Background()
	ns := "~access:" + w.Addr
	rec, err := a.store.Get(ctx, ns, "token/"+id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.Put(ctx, ns, []storage.Item{{Name: "token/" + id, Value: rec.Value}}); err != nil {
		t.Fatal(err)
	}
	owner := b.login(w)
	if r := b.do("GET", "/v1/tokens", owner, nil); !strings.Contains(string(r.body), id) {
		t.Fatalf("the restored list: %d %s", r.status, r.body)
	}
	wantRefusal(t, "a token the store has no record of", b.do("GET", "/v1/whoami", tok, nil), 403, "")
	if r := b.do("DELETE", "/v1/tokens/"+id, owner, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := b.do("GET", "/v1/tokens", owner, nil); strings.Contains(string(r.body), id) {
		t.Errorf("still listed after revoke: %s", r.body)
	}
	wantRefusal(t, "revoked twice", b.do("DELETE", "/v1/tokens/"+id, owner, nil), 404, "token_not_found")
}
