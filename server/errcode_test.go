package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// Every error body carries the stable code a program switches on, beside
// the original's type and message.
func TestErrorCodes(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	siws := e.siwsBody(w, nil)
	e.do("POST", "/login", "", siws)
	stale := e.legacyBody(w, e.now.Add(-time.Hour).Unix())
	badSig := e.legacyBody(w, e.now.Unix())
	badSig["signature"] = e.legacyBody(authtest.NewWallet(), e.now.Unix())["signature"]
	job, _, _ := e.tokens.Issue(auth.Claims{Address: w.Addr, UserAddress: w.Addr, Secrets: []string{"a"}, Job: "J"}, time.Time{})
	noGrants, _, _ := e.tokens.Issue(auth.Claims{Address: w.Addr, UserAddress: w.Addr, Job: "J", NoGrantList: true}, time.Time{})
	old, _, _ := e.tokens.Issue(auth.Claims{Address: w.Addr}, time.Time{})

	cases := []struct {
		name, method, path, auth string
		body                     any
		status                   int
		code                     string
	}{
		{"no token", "GET", "/secrets", "", nil, 403, errcode.NotAuthenticated},
		{"bad token", "GET", "/secrets", "Bearer x.y.z", nil, 403, errcode.TokenInvalid},
		{"missing secret", "GET", "/secrets/absent", tok, nil, 404, errcode.NotFound},
		{"no route", "GET", "/nope", "", nil, 404, errcode.NoRoute},
		{"bad body", "POST", "/secrets", tok, `{"secrets": 3}`, 400, errcode.InvalidRequest},
		{"bad signature", "POST", "/login", "", badSig, 400, errcode.InvalidSignature},
		{"stale timestamp", "POST", "/login", "", stale, 400, errcode.LoginWindow},
		{"nonce used", "POST", "/login", "", siws, 400, errcode.NonceUsed},
		{"other server", "POST", "/login", "", e.siwsBody(w, func(m *auth.SIWS) { m.Domain, m.URI = "evil.test", "https://evil.test" }), 400, errcode.WrongAudience},
		{"key not granted", "GET", "/secrets/b", job, nil, 400, errcode.KeyNotGranted},
		{"no grant list", "GET", "/secrets", noGrants, nil, 400, errcode.NoGrantList},
		{"too large", "POST", "/secrets", tok, `{"secrets":{"k":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, errcode.PayloadTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.auth, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			m := r.json(t)
			if m["code"] != c.code || m["type"] == nil || m["message"] == nil {
				t.Errorf("body %s, want code %q beside type and message", r.body, c.code)
			}
		})
	}

	e.now = e.now.Add(2 * time.Hour)
	if r := e.do("GET", "/secrets", "Bearer "+old, nil); r.status != 403 || r.json(t)["code"] != errcode.TokenExpired {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
}
