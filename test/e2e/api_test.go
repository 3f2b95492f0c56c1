package e2e_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestAPIOnEveryBackend starts serve on each backend and drives every route
// of SPEC §2 and its error cases as a client would.
func TestAPIOnEveryBackend(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			srv := testserver.Start(t, testserver.Config(b.uri(t)))
			a := api{t, srv.URL}
			values := exerciseAPI(t, a)
			if err := srv.Stop(); err != nil { // flushes the log
				t.Fatal(err)
			}
			logs := srv.Logs()
			for _, v := range values {
				if strings.Contains(logs, v) {
					t.Errorf("the log holds a secret value, token or signature: %.12q…", v)
				}
			}
		})
	}
}

// exerciseAPI runs the whole legacy API and returns the secret values and
// tokens it used, which must never show in a log.
func exerciseAPI(t *testing.T, a api) []string {
	r := a.do("GET", "/", "", nil)
	if r.status != 200 || string(r.body) != `"Welcome to Nosana Secret Manager"` {
		t.Errorf("GET / = %d %s", r.status, r.body)
	}
	for _, p := range []string{"/health", "/livez", "/readyz", "/metrics"} {
		a.expect(a.do("GET", p, "", nil), 200, "", "")
	}

	alice, bob := authtest.NewWallet(), authtest.NewWallet()
	ta, tb := a.login(alice), a.login(bob)
	raw := strings.TrimPrefix(ta, "Bearer ")

	// Login failures are 400 with a clear message.
	good := alice.LegacyLogin(0)
	a.expect(a.do("POST", "/login", "", `{"address":`), 400, "ValidationError", "JSON object")
	a.expect(a.do("POST", "/login", "", map[string]any{"address": "0OIl", "signature": good["signature"], "timestamp": 1}), 400, "ValidationError", "base58")
	a.expect(a.do("POST", "/login", "", map[string]any{"address": "3mJr7AoUXx2Wqd", "signature": good["signature"], "timestamp": 1}), 400, "ValidationError", "32 bytes")
	a.expect(a.do("POST", "/login", "", map[string]any{"address": alice.Addr, "signature": good["signature"], "timestamp": "soon"}), 400, "ValidationError", "integer")
	a.expect(a.do("POST", "/login", "", good), 400, "ValidationError", "login window")

	// Writes, reads, every JSON type, keys with / : unicode and case.
	secret := "hunter2-" + hex.EncodeToString([]byte(alice.Addr[:6]))
	body := fmt.Sprintf(`{"secrets":{"str":%q,"num":12345678901234567890,"obj":{"a":[1,null,true]},"arr":[],"t":true,"n":null,
		"a/b":"slash","x:y":"colon","ключ🔑":"unicode","Key":"upper","key":"lower"}}`, secret)
	a.expect(a.do("POST", "/secrets", ta, body), 200, "", "")
	for path, want := range map[string]string{
		"/secrets/str": fmt.Sprintf("%q", secret), "/secrets/num": "12345678901234567890",
		"/secrets/obj": `{"a":[1,null,true]}`, "/secrets/arr": `[]`, "/secrets/t": `true`, "/secrets/n": `null`,
		"/secrets/a%2Fb": `"slash"`, "/secrets/x:y": `"colon"`, "/secrets/%D0%BA%D0%BB%D1%8E%D1%87%F0%9F%94%91": `"unicode"`,
		"/secrets/Key": `"upper"`, "/secrets/key": `"lower"`,
	} {
		r := a.do("GET", path, ta, nil)
		if r.status != 200 || string(r.body) != want {
			t.Errorf("GET %s = %d %s, want %s", path, r.status, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	a.expect(a.do("GET", "/secrets/KEY", ta, nil), 404, "NotFoundError", "KEY")

	// Prefix listing; wildcard characters are literal.
	a.expect(a.do("POST", "/secrets", tb, `{"secrets":{"a%1":1,"a_1":2,"a*1":3,"a[1":4,"ab":5},"prefix":"p/"}`), 200, "", "")
	for q, want := range map[string]string{
		"p%2Fa%25": `{"p/a%1":1}`, "p%2Fa_": `{"p/a_1":2}`, "p%2Fa*": `{"p/a*1":3}`, "p%2Fa%5B": `{"p/a[1":4}`,
		"p%2F": `{"p/a%1":1,"p/a*1":3,"p/a[1":4,"p/a_1":2,"p/ab":5}`, "q": `{}`,
	} {
		if r := a.do("GET", "/secrets?prefix="+q, tb, nil); string(r.body) != want {
			t.Errorf("prefix %s: %s, want %s", q, r.body, want)
		}
	}
	// Owners are isolated.
	if r := a.do("GET", "/secrets/str", tb, nil); r.status != 404 {
		t.Errorf("bob reads alice's secret: %d %s", r.status, r.body)
	}

	// Overwrite, then delete a key given as a string and as a list.
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":{"t":false}}`), 200, "", "")
	if r := a.do("GET", "/secrets/t", ta, nil); string(r.body) != "false" {
		t.Errorf("overwrite: %s", r.body)
	}
	a.expect(a.do("DELETE", "/secrets", ta, `{"key":"t"}`), 200, "", "")
	a.expect(a.do("DELETE", "/secrets", ta, `{"key":["n","arr","never-there"]}`), 200, "", "")
	a.expect(a.do("GET", "/secrets/t", ta, nil), 404, "NotFoundError", "t")
	var all map[string]json.RawMessage
	if err := json.Unmarshal(a.do("GET", "/secrets", ta, nil).body, &all); err != nil || len(all) != 8 {
		t.Errorf("after deletes: %d keys, %v", len(all), err)
	}

	// Bad input: 4xx, and nothing stored changes.
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":["x"]}`), 400, "ValidationError", "object")
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":{"ok":1,"":2}}`), 400, "ValidationError", "empty")
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":{"`+strings.Repeat("k", 513)+`":1}}`), 400, "ValidationError", "512")
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":`), 400, "ValidationError", "JSON")
	a.expect(a.do("POST", "/secrets", ta, `{"secrets":{"big":"`+strings.Repeat("x", 1<<20)+`"}}`), 413, "PayloadTooLarge", "limit")
	a.expect(a.do("DELETE", "/secrets", ta, `{"key":7}`), 400, "ValidationError", "key")
	if r := a.do("GET", "/secrets/ok", ta, nil); r.status != 404 {
		t.Errorf("a refused batch wrote a key: %d", r.status)
	}

	// Tokens: none, tampered, raw form.
	a.expect(a.do("GET", "/secrets", "", nil), 403, "ForbiddenError", "Not authenticated")
	a.expect(a.do("GET", "/secrets", raw+"x", nil), 403, "ForbiddenError", "")
	a.expect(a.do("GET", "/health", "Bearer not.a.token", nil), 403, "ForbiddenError", "")
	if r := a.do("GET", "/secrets/str", raw, nil); r.status != 200 {
		t.Errorf("raw token: %d", r.status)
	}
	return []string{secret, raw, strings.TrimPrefix(tb, "Bearer "), good["signature"].(string)}
}

// TestVectorsThroughBinary checks the shared known-answer values against the
// real binary: the legacy signature of the vector keypair logs in, and a
// token of the original server's exact header and claims verifies (and is
// expired). The vector's own secret is too short for serve, so the token is
// signed again under the test secret.
func TestVectorsThroughBinary(t *testing.T) {
	v := vectors.Load(t)
	cfg := testserver.Config("sqlite://" + t.TempDir() + "/v.sqlite")
	cfg["LOGIN_WINDOW"] = "2000000000" // the vector was signed in 2023
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}

	r := a.do("POST", "/login", "", map[string]any{
		"address": v.Keypair.Address, "signature": v.LegacyLogin.SignatureBase58, "timestamp": v.LegacyLogin.Timestamp,
	})
	if r.status != 200 {
		t.Fatalf("vector login: %d %s", r.status, r.body)
	}
	tok := "Bearer " + r.field(t, "token")
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"S1":"hunter2"}}`), 200, "", "")
	if r := a.do("GET", "/secrets/S1", tok, nil); string(r.body) != `"hunter2"` {
		t.Errorf("vector authtest.Wallet round trip: %s", r.body)
	}
	seed, _ := hex.DecodeString(v.Keypair.SeedHex)
	if w := authtest.WalletFromSeed(seed); w.Addr != v.Keypair.Address {
		t.Fatalf("vector seed gives %s", w.Addr)
	}
	original := resign(t, v.JWT.Token, testserver.TestJWTSecret)
	a.expect(a.do("GET", "/secrets", original, nil), 403, "ForbiddenError", "expired")
	a.expect(a.do("GET", "/secrets", "Bearer "+original, nil), 403, "ForbiddenError", "expired")
}

// resign signs a token's header and payload, unchanged, with key (HS256).
func resign(t *testing.T, token, key string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	sig, err := jwt.SigningMethodHS256.Sign(parts[0]+"."+parts[1], []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}
