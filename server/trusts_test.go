package server_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth/oidctest"
	"github.com/nosana-ci/nosana-secrets/server"
)

// withIssuers makes the server accept the tokens of iss (its CA trusted,
// nothing else).
func withIssuers(iss ...*oidctest.Issuer) func(*server.Options) {
	return withIssuersAhead(new(atomic.Int64), iss...)
}

// withIssuersAhead is withIssuers with the verifier's clock ahead of real
// time by ahead nanoseconds (the issuer signs on real time; moving the
// env's clock while the server runs would race with its goroutines).
func withIssuersAhead(ahead *atomic.Int64, iss ...*oidctest.Issuer) func(*server.Options) {
	return func(o *server.Options) {
		var urls []string
		for _, i := range iss {
			urls = append(urls, i.URL)
		}
		o.OIDC = oidcauth.New(oidcauth.Config{Issuers: urls, Client: iss[0].Client(),
			Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	}
}

// trust creates a GitHub-shaped trust of iss for repo at ref, as owner.
func (e *env) trust(owner string, iss *oidctest.Issuer, claims map[string]string, extra map[string]any) string {
	e.t.Helper()
	body := map[string]any{"name": "deploy", "issuer": iss.URL, "claims": claims, "prefix": "ci/"}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do("POST", "/v1/trusts", owner, body)
	if r.status != 201 {
		e.t.Fatalf("trust: %d %s", r.status, r.body)
	}
	return r.json(e.t)["id"].(string)
}

func (e *env) exchange(w authtest.Wallet, tok string) resp {
	e.t.Helper()
	return e.do("POST", "/v1/auth/oidc", "", map[string]any{"owner": w.Addr, "token": tok})
}

func unsignedJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func TestOIDCExchange(t *testing.T) {
	iss := oidctest.New(t)
	unlisted := oidctest.New(t)
	ahead := new(atomic.Int64)
	e := newEnv(t, withIssuersAhead(ahead, iss))
	aud := testAudience.URI
	w := authtest.NewWallet()
	owner := e.login(w)
	e.do("POST", "/secrets", owner, map[string]any{"secrets": map[string]any{"ci/key": "K", "other": "O"}})
	trustID := e.trust(owner, iss, map[string]string{"repository": "org/repo", "ref": "refs/heads/main"}, nil)

	// Granted, with the RSA and the EC key.
	for _, kid := range []string{"rsa-1", "ec-1"} {
		r := e.exchange(w, iss.Sign(kid, iss.GitHub("org/repo", "refs/heads/main", aud)))
		if r.status != 200 {
			t.Fatalf("%s: exchange: %d %s", kid, r.status, r.body)
		}
		m := r.json(t)
		tok := "Bearer " + m["token"].(string)
		exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string))
		if exp.Sub(e.now) > 15*time.Minute+time.Second {
			t.Errorf("%s: the token lives until %v, more than the trust's 15m", kid, exp)
		}
		if r := e.do("GET", "/secrets/ci%2Fkey", tok, nil); r.status != 200 {
			t.Errorf("%s: read with the exchanged token: %d %s", kid, r.status, r.body)
		}
		wantRefusal(t, kid+": outside the trust's prefix", e.do("GET", "/secrets/other", tok, nil), 403, errcode.TokenScope)
		wantRefusal(t, kid+": write with a read-only trust", e.do("PUT", "/v1/secrets/ci%2Fkey", tok, map[string]any{"value": 1}), 403, errcode.TokenScope)
	}

	// Refused.
	good := func() map[string]any { return iss.GitHub("org/repo", "refs/heads/main", aud) }
	with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
	other := authtest.NewWallet()
	otherOwner := e.login(other)
	e.trust(otherOwner, iss, map[string]string{"repository": "org/else"}, nil)
	hsKey, _ := x509.MarshalPKIXPublicKey(iss.PublicRSA("rsa-1"))
	for _, c := range []struct {
		what, tok, reason string
		owner             authtest.Wallet
	}{
		{"another repository", iss.Sign("rsa-1", iss.GitHub("org/other", "refs/heads/main", aud)), "claims_mismatch", w},
		{"another ref", iss.Sign("rsa-1", iss.GitHub("org/repo", "refs/heads/dev", aud)), "claims_mismatch", w},
		{"a repository named with a prefix", iss.Sign("rsa-1", iss.GitHub("org/repo2", "refs/heads/main", aud)), "claims_mismatch", w},
		{"wrong audience", iss.Sign("rsa-1", iss.GitHub("org/repo", "refs/heads/main", "https://elsewhere.test")), "wrong_audience", w},
		{"expired", iss.Sign("rsa-1", with("exp", time.Now().Add(-2*time.Minute).Unix())), "expired", w},
		{"not yet valid", iss.Sign("rsa-1", with("nbf", time.Now().Add(10*time.Minute).Unix())), "not_yet_valid", w},
		{"issued in the future", iss.Sign("rsa-1", with("iat", time.Now().Add(10*time.Minute).Unix())), "not_yet_valid", w},
		{"alg none", unsignedJWT(good()), "malformed_token", w},
		{"HS256 keyed with the public key", oidctest.SignWith(jose.HS256, hsKey, "rsa-1", good()), "malformed_token", w},
		{"unknown issuer", unlisted.Sign("rsa-1", unlisted.GitHub("org/repo", "refs/heads/main", aud)), "unknown_issuer", w},
		{"a key the issuer does not publish", oidctest.SignWith(jose.RS256, unlisted.Remove("rsa-1"), "rsa-1", good()), "bad_signature", w},
		{"a trust of another owner", iss.Sign("rsa-1", iss.GitHub("org/else", "refs/heads/main", aud)), "claims_mismatch", w},
		{"an owner with no trust", iss.Sign("rsa-1", good()), "no_trust", authtest.NewWallet()},
	} {
		r := e.exchange(c.owner, c.tok)
		wantRefusal(t, c.what, r, 403, errcode.OIDCRefused)
		if strings.Contains(string(r.body), c.tok) {
			t.Errorf("%s: the answer echoes the token", c.what)
		}
		_ = c.reason
	}
	if n := unlisted.JWKSFetches.Load(); n != 0 {
		t.Errorf("the unlisted issuer was asked for its keys %d times", n)
	}

	// Rotation: the old key is gone, a new one signs; the server refetches
	// (at most once per 10 s) and the new key's tokens pass.
	fetches := iss.JWKSFetches.Load()
	oldKey := iss.Remove("rsa-1")
	newKid := iss.Rotate()
	ahead.Store(int64(11 * time.Second))
	if r := e.exchange(w, iss.Sign(newKid, good())); r.status != 200 {
		t.Errorf("after rotation: %d %s", r.status, r.body)
	}
	// The unknown kid of a retired key, many times: refused, and at most
	// one more fetch within 10 s.
	before := iss.JWKSFetches.Load()
	for range 5 {
		wantRefusal(t, "retired kid", e.exchange(w, oidctest.SignWith(jose.RS256, oldKey, "rsa-1", good())), 403, errcode.OIDCRefused)
	}
	if n := iss.JWKSFetches.Load() - before; n > 0 {
		t.Errorf("%d key fetches within 10 s of the last", n)
	}
	if iss.JWKSFetches.Load() <= fetches {
		t.Error("the server never refetched the keys after rotation")
	}

	// Audit: grants name the trust and subject, refusals their reason.
	owner = e.login(w)
	body := string(e.do("GET", "/v1/audit?action=oidc_exchange&limit=100", owner, nil).body)
	for _, want := range []string{`"actor":"trust ` + trustID + ` (deploy) repo:org/repo:ref:refs/heads/main"`,
		`"reason":"claims_mismatch"`, `"reason":"wrong_audience"`, `"reason":"expired"`, `"reason":"not_yet_valid"`,
		`"reason":"malformed_token"`, `"reason":"unknown_issuer"`, `"reason":"unknown_key"`, `"reason":"bad_signature"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit log lacks %s: %s", want, body)
		}
	}

	// Trusts: listed, refused for an issuer not listed, deleted.
	wantRefusal(t, "unlisted issuer", e.do("POST", "/v1/trusts", owner, map[string]any{"name": "x", "issuer": unlisted.URL, "claims": map[string]string{"repository": "o/r"}}), 400, errcode.IssuerNotAllowed)
	wantRefusal(t, "github trust without a repository", e.do("POST", "/v1/trusts", owner, map[string]any{"name": "x", "claims": map[string]string{"ref": "refs/heads/main"}}), 400, "")
	wantRefusal(t, "ttl over an hour", e.do("POST", "/v1/trusts", owner, map[string]any{"name": "x", "issuer": iss.URL, "claims": map[string]string{"repository": "o/r"}, "ttl": "2h"}), 400, errcode.InvalidRequest)
	if r := e.do("GET", "/v1/trusts", owner, nil); !strings.Contains(string(r.body), trustID) {
		t.Errorf("list: %s", r.body)
	}
	if r := e.do("DELETE", "/v1/trusts/"+trustID, owner, nil); r.status != 200 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	wantRefusal(t, "deleted twice", e.do("DELETE", "/v1/trusts/"+trustID, owner, nil), 404, errcode.TrustNotFound)
	wantRefusal(t, "after the trust's deletion", e.exchange(w, iss.Sign(newKid, good())), 403, errcode.OIDCRefused)
	if strings.Contains(e.logs.String(), "eyJ") {
		t.Error("a log line holds a JWT")
	}
}

// A glob is matched only where the trust writes "glob:".
func TestOIDCTrustGlob(t *testing.T) {
	iss := oidctest.New(t)
	e := newEnv(t, withIssuers(iss))
	w := authtest.NewWallet()
	owner := e.login(w)
	e.trust(owner, iss, map[string]string{"repository": "org/repo", "ref": "glob:refs/tags/v*"}, nil)
	e.trust(owner, iss, map[string]string{"repository": "org/*"}, nil) // literal: no glob
	aud := testAudience.URI
	if r := e.exchange(w, iss.Sign("ec-1", iss.GitHub("org/repo", "refs/tags/v1.2", aud))); r.status != 200 {
		t.Errorf("tag matching the glob: %d %s", r.status, r.body)
	}
	wantRefusal(t, "branch", e.exchange(w, iss.Sign("ec-1", iss.GitHub("org/repo", "refs/heads/main", aud))), 403, errcode.OIDCRefused)
	wantRefusal(t, "literal star", e.exchange(w, iss.Sign("ec-1", iss.GitHub("org/x", "refs/heads/main", aud))), 403, errcode.OIDCRefused)
}
