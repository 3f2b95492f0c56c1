package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/lockedio"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

type env struct {
	t       testing.TB
	url     string
	store   storage.Store // below the seal layer: values as stored
	tokens  *auth.Tokens
	logs    *lockedio.Buffer // safe for concurrent handlers
	handler http.Handler
	now     time.Time
	api     *apiSeen // answers checked against openapi.json
}

func newEnv(t testing.TB, opts ...func(*server.Options)) *env {
	t.Helper()
	return newEnvOn(t, "sqlite://"+filepath.Join(t.TempDir(), "test.sqlite"), bytes.Repeat([]byte{7}, seal.KeySize), opts...)
}

// newEnvOn is newEnv on the store at uri, sealed with masterKey.
func newEnvOn(t testing.TB, uri string, masterKey []byte, opts ...func(*server.Options)) *env {
	t.Helper()
	ctx := context.Background()
	store, err := stack.Open(ctx, uri, stack.Options{MasterKeys: [][]byte{masterKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, store: store.Lower(), logs: lockedio.NewBuffer(), now: time.Now()}
	clock := func() time.Time { return e.now }
	e.tokens, _ = auth.NewTokens([]byte("test-jwt-key-of-thirty-two-bytes"), 0, clock)
	o := server.Options{
		Store:     store,
		Tokens:    e.tokens,
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       clock,
		Audiences: []auth.Audience{testAudience},
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = srv.Handler()
	e.api = &apiSeen{}
	h := e.handler
	if tt, ok := t.(*testing.T); ok {
		h = checkAPI(tt, h, e.api)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (e *env) do(method, path, auth string, body any) resp {
	e.t.Helper()
	r := testserver.Do(e.t, method, e.url+path, auth, body)
	return resp{status: r.Status, header: r.Header, body: r.Body}
}

func (e *env) legacyBody(w authtest.Wallet, ts int64) map[string]any {
	sig := ed25519.Sign(w.Key, []byte("nosana_secret_"+strconv.FormatInt(ts, 10)))
	return map[string]any{"address": w.Addr, "signature": base58.Encode(sig), "timestamp": ts}
}

func (e *env) login(w authtest.Wallet) string {
	e.t.Helper()
	r := e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix()))
	if r.status != 200 {
		e.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return "Bearer " + r.json(e.t)["token"].(string)
}

// wantError checks status and the legacy error body.
func wantError(t *testing.T, r resp, status int, typ, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	m := r.json(t)
	if m["type"] != typ {
		t.Errorf("type %v, want %s (body %s)", m["type"], typ, r.body)
	}
	if s, _ := m["message"].(string); !strings.Contains(s, msg) {
		t.Errorf("message %q, want it to contain %q", s, msg)
	}
	if typ == "ValidationError" && m["error"] != m["message"] {
		t.Errorf("ValidationError without error = message: %s", r.body)
	}
}

func TestPublicRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/", "", nil)
	if r.status != 200 || string(r.body) != `"Welcome to Nosana Secret Manager"` {
		t.Errorf("GET / = %d %s", r.status, r.body)
	}
	for _, p := range []string{"/health", "/livez", "/readyz"} {
		if r := e.do("GET", p, "", nil); r.status != 200 {
			t.Errorf("GET %s = %d %s", p, r.status, r.body)
		}
	}
	wantError(t, e.do("GET", "/nope", "", nil), 404, "NotFoundError", "no such route")
	wantError(t, e.do("PUT", "/secrets", e.login(authtest.NewWallet()), "{}"), 405, "MethodNotAllowed", "method")
}

func TestLoginLegacy(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	cl, err := e.tokens.Verify(strings.TrimPrefix(tok, "Bearer "))
	if err != nil || cl.Address != w.Addr || cl.Scoped() {
		t.Fatalf("token claims %+v, %v", cl, err)
	}
	// A signature may be presented twice inside its window (real nodes do).
	body := e.legacyBody(w, e.now.Unix())
	for i := 0; i < 2; i++ {
		if r := e.do("POST", "/login", "", body); r.status != 200 {
			t.Fatalf("repeat %d: %d %s", i, r.status, r.body)
		}
	}
	// Timestamp as a decimal string.
	body["timestamp"] = strconv.FormatInt(e.now.Unix(), 10)
	if r := e.do("POST", "/login", "", body); r.status != 200 {
		t.Fatalf("string timestamp: %d %s", r.status, r.body)
	}
}

func TestLoginRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	good := e.legacyBody(w, e.now.Unix())
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	other := authtest.NewWallet()
	cases := []struct {
		name string
		body any
		want string
	}{
		{"broken json", `{"address":`, "JSON object"},
		{"array", `[]`, "JSON object"},
		{"empty", ``, "JSON object"},
		{"no address", with("address", nil), "address is required"},
		{"address number", with("address", 5), "address must be a string"},
		{"bad base58 address", with("address", "0OIl0OIl"), "not valid base58"},
		{"short address", with("address", base58.Encode([]byte("short"))), "32 bytes"},
		{"long address", with("address", strings.Repeat("A", 100000)), "too long"},
		{"bad base58 signature", with("signature", "0OIl"), "not valid base58"},
		{"short signature", with("signature", base58.Encode(make([]byte, 10))), "64 bytes"},
		{"other's address", with("address", other.Addr), "does not match"},
		{"non-numeric timestamp", with("timestamp", "soon"), "integer"},
		{"float timestamp", with("timestamp", 1.5), "integer"},
		{"old timestamp", e.legacyBody(w, e.now.Unix()-61), "login window"},
		{"future timestamp", e.legacyBody(w, e.now.Unix()+61), "login window"},
		{"no timestamp", with("timestamp", nil), "timestamp is required"},
		{"bad job", with("job", "not-an-address!"), "job"},
		{"invalid utf-8", []byte("{\"address\":\"\xff\"}"), "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/login", "", c.body), 400, "ValidationError", c.want)
		})
	}
}

func TestTokenForms(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	bearer := e.login(w)
	raw := strings.TrimPrefix(bearer, "Bearer ")
	for _, h := range []string{bearer, raw, "bearer " + raw, "BEARER  " + raw} {
		if r := e.do("GET", "/secrets", h, nil); r.status != 200 {
			t.Errorf("Authorization %.12q: %d %s", h, r.status, r.body)
		}
	}
	wantError(t, e.do("GET", "/secrets", "", nil), 403, "ForbiddenError", "Not authenticated")
	wantError(t, e.do("GET", "/secrets/x", "", nil), 403, "ForbiddenError", "Not authenticated")
	wantError(t, e.do("POST", "/secrets", "", `{"secrets":{}}`), 403, "ForbiddenError", "Not authenticated")
	// A present but invalid token is 403 on every route.
	bad := raw[:len(raw)-2] + "xx"
	for _, p := range []string{"/", "/health", "/secrets", "/secrets/x"} {
		wantError(t, e.do("GET", p, bad, nil), 403, "ForbiddenError", "")
	}
	wantError(t, e.do("POST", "/login", "Bearer junk", e.legacyBody(w, e.now.Unix())), 403, "ForbiddenError", "")
	// Expired.
	e.now = e.now.Add(2 * time.Hour)
	wantError(t, e.do("GET", "/secrets", bearer, nil), 403, "ForbiddenError", "expired")
	if strings.Contains(e.logs.String(), raw) {
		t.Error("a token reached the log")
	}
}

// TestVectorTokenAccepted: a token with the original server's exact header
// and claims is accepted, raw and with Bearer. (The vector's own secret is
// shorter than auth.NewTokens accepts, so it is signed again here.)
func TestVectorTokenAccepted(t *testing.T) {
	v := vectors.Load(t)
	key := bytes.Repeat([]byte("k"), auth.MinKeyLen)
	parts := strings.Split(v.JWT.Token, ".")
	sig, err := jwt.SigningMethodHS256.Sign(parts[0]+"."+parts[1], key)
	if err != nil {
		t.Fatal(err)
	}
	original := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	store, err := stack.Open(context.Background(), "memory://", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clock := func() time.Time { return time.Unix(v.JWT.Claims.Iat+60, 0) }
	tokens, _ := auth.NewTokens(key, 0, clock)
	srv, err := server.New(server.Options{Store: store, Tokens: tokens, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, h := range []string{original, "Bearer " + original} {
		req, _ := http.NewRequest("GET", hs.URL+"/secrets", nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("original server's token (%.10s…): %d", h, res.StatusCode)
		}
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	values := map[string]string{
		"string":  `"hunter2"`,
		"colon":   `"::colon"`,
		"empty":   `""`,
		"int":     `42`,
		"bigint":  `123456789012345678901234567890`,
		"float":   `-1.5e-7`,
		"object":  `{"a":[1,{"b":null}],"c":"\u00e9"}`,
		"array":   `[1,"two",true,null]`,
		"true":    `true`,
		"false":   `false`,
		"null":    `null`,
		"unicode": `"héllo 🌍 \n\t\"quoted\" <tag>"`,
	}
	var sb strings.Builder
	sb.WriteString(`{"secrets":{`)
	i := 0
	for k, v := range values {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "%q: %s", k, v)
		i++
	}
	sb.WriteString(`}}`)
	if r := e.do("POST", "/secrets", tok, sb.String()); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	for k, v := range values {
		r := e.do("GET", "/secrets/"+k, tok, nil)
		if r.status != 200 || !jsonEqual(t, r.body, []byte(v)) {
			t.Errorf("get %s = %d %s, want %s", k, r.status, r.body, v)
		}
	}
	r := e.do("GET", "/secrets", tok, nil)
	var all map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &all); err != nil || len(all) != len(values) {
		t.Fatalf("list: %s (%v)", r.body, err)
	}
	for k, v := range values {
		if !jsonEqual(t, all[k], []byte(v)) {
			t.Errorf("list[%s] = %s, want %s", k, all[k], v)
		}
	}
	if string(all["bigint"]) != values["bigint"] {
		t.Errorf("big integer lost precision: %s", all["bigint"])
	}
	if strings.Contains(e.logs.String(), "hunter2") {
		t.Error("a secret value reached the log")
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestKeysInPaths(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	keys := map[string]string{
		"a/b":         "/secrets/a%2Fb",
		"x:y":         "/secrets/x:y",
		"100%":        "/secrets/100%25",
		"with space":  "/secrets/with%20space",
		"ключ/🔑":      "/secrets/%D0%BA%D0%BB%D1%8E%D1%87%2F%F0%9F%94%91",
		"Key":         "/secrets/Key",
		"key":         "/secrets/key",
		"a?b#c":       "/secrets/a%3Fb%23c",
		"dot.dot":     "/secrets/dot.dot",
		"plus+plus":   "/secrets/plus+plus",
		"trailing ":   "/secrets/trailing%20",
		"a%2Fb-raw":   "/secrets/a%252Fb-raw",
		"semi;colon=": "/secrets/semi;colon=",
	}
	secrets := map[string]string{}
	for k := range keys {
		secrets[k] = "v:" + k
	}
	if r := e.do("POST", "/secrets", tok, map[string]any{"secrets": secrets}); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	for k, path := range keys {
		r := e.do("GET", path, tok, nil)
		var got string
		_ = json.Unmarshal(r.body, &got)
		if r.status != 200 || got != "v:"+k {
			t.Errorf("GET %s = %d %s, want %q", path, r.status, r.body, "v:"+k)
		}
	}
	wantError(t, e.do("GET", "/secrets/KEY", tok, nil), 404, "NotFoundError", "KEY")
	wantError(t, e.do("GET", "/secrets/a/b", tok, nil), 404, "NotFoundError", "%2F")
	wantError(t, e.do("GET", "/secrets/"+strings.Repeat("k", 513), tok, nil), 400, "ValidationError", "513 bytes")
	wantError(t, e.do("GET", "/secrets/%00", tok, nil), 400, "ValidationError", "NUL")
	wantError(t, e.do("GET", "/secrets/%FF", tok, nil), 400, "ValidationError", "UTF-8")
}

func TestSetValidation(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	if r := e.do("POST", "/secrets", tok, `{"secrets":{"keep":"me"}}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	long := strings.Repeat("k", 513)
	cases := []struct{ name, body, want string }{
		{"broken json", `{"secrets":`, "body must be a JSON object"},
		{"not an object", `["secrets"]`, "body must be a JSON object"},
		{"missing secrets", `{}`, "secrets must be an object"},
		{"null secrets", `{"secrets":null}`, "secrets must be an object"},
		{"array secrets", `{"secrets":[1,2]}`, "secrets must be an object"},
		{"string secrets", `{"secrets":"a=b"}`, "secrets must be an object"},
		{"number prefix", `{"secrets":{"a":1},"prefix":5}`, "prefix must be a string"},
		{"empty key", `{"secrets":{"":1}}`, "is empty"},
		{"long key", `{"secrets":{"ok":1,"` + long + `":1}}`, "513 bytes"},
		{"long with prefix", `{"secrets":{"` + long[:500] + `":1},"prefix":"` + long[:13] + `"}`, "513 bytes"},
		{"nul key", `{"secrets":{"a\u0000b":1}}`, "NUL"},
		{"invalid utf-8", "{\"secrets\":{\"\xff\":1}}", "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/secrets", tok, c.body), 400, "ValidationError", c.want)
		})
	}
	// Nothing of a refused batch was written; the earlier secret is intact.
	r := e.do("GET", "/secrets", tok, nil)
	if string(r.body) != `{"keep":"me"}` {
		t.Errorf("after refused writes: %s", r.body)
	}
	// The prefix is prepended; a 512-byte name is the limit.
	if r := e.do("POST", "/secrets", tok, `{"secrets":{"`+long[:500]+`":1},"prefix":"`+long[:12]+`"}`); r.status != 200 {
		t.Errorf("512-byte name: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/secrets", tok, `{"secrets":{"b":2},"prefix":"p/"}`); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", "/secrets/p%2Fb", tok, nil); string(r.body) != "2" {
		t.Errorf("prefixed key: %d %s", r.status, r.body)
	}
	// Empty object is a no-op.
	if r := e.do("POST", "/secrets", tok, `{"secrets":{}}`); r.status != 200 {
		t.Errorf("empty secrets: %d", r.status)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	big := `{"secrets":{"big":"` + strings.Repeat("x", 1<<20) + `"}}`
	wantError(t, e.do("POST", "/secrets", tok, big), 413, "PayloadTooLarge", "limit")
	// Without a declared length (chunked) the limit still holds.
	req, _ := http.NewRequest("POST", e.url+"/secrets", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", tok)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked oversize body: %d", res.StatusCode)
	}
	wantError(t, e.do("POST", "/login", "", big), 413, "PayloadTooLarge", "limit")
	// Just under the limit is fine.
	ok := `{"secrets":{"big":"` + strings.Repeat("x", 1<<20-100) + `"}}`
	if r := e.do("POST", "/secrets", tok, ok); r.status != 200 {
		t.Errorf("body under the limit: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets/big", tok, nil); r.status != 200 || len(r.body) != 1<<20-100+2 {
		t.Errorf("big value back: %d, %d bytes", r.status, len(r.body))
	}
}

func TestPrefixListing(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	secrets := map[string]int{}
	for i, k := range []string{"a%b", "axb", "a_b", "a*b", "a[b", "a[]", "ab", "b", "a\\b", "é1", "é2", "f"} {
		secrets[k] = i
	}
	e.do("POST", "/secrets", tok, map[string]any{"secrets": secrets})
	cases := map[string][]string{
		"a%": {"a%b"}, "a_": {"a_b"}, "a*": {"a*b"}, "a[": {"a[b", "a[]"}, "a\\": {"a\\b"},
		"é": {"é1", "é2"}, "": nil, "zzz": {}, "A": {},
	}
	for p, want := range cases {
		r := e.do("GET", "/secrets?prefix="+urlQuery(p), tok, nil)
		var got map[string]int
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("prefix %q: %s", p, r.body)
		}
		if want == nil {
			want = nil
			if len(got) != len(secrets) {
				t.Errorf("no prefix: %d keys, want %d", len(got), len(secrets))
			}
			continue
		}
		if len(got) != len(want) {
			t.Errorf("prefix %q: got %v, want %v", p, got, want)
		}
		for _, k := range want {
			if got[k] != secrets[k] {
				t.Errorf("prefix %q: missing %q in %v", p, k, got)
			}
		}
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", " ", "%20", "[", "%5B", "]", "%5D", "\\", "%5C").Replace(s)
}

func TestDeleteAndIsolation(t *testing.T) {
	e := newEnv(t)
	alice, bob := authtest.NewWallet(), authtest.NewWallet()
	ta, tb := e.login(alice), e.login(bob)
	e.do("POST", "/secrets", ta, `{"secrets":{"k1":1,"k2":2,"k3":3,"shared":"alice"}}`)
	e.do("POST", "/secrets", tb, `{"secrets":{"shared":"bob"}}`)

	if r := e.do("GET", "/secrets/shared", tb, nil); string(r.body) != `"bob"` {
		t.Errorf("bob reads %s", r.body)
	}
	if r := e.do("GET", "/secrets", tb, nil); string(r.body) != `{"shared":"bob"}` {
		t.Errorf("bob lists %s", r.body)
	}
	// Bob deleting alice's key names deletes nothing of alice's.
	e.do("DELETE", "/secrets", tb, `{"key":["k1","shared"]}`)
	if r := e.do("GET", "/secrets/k1", ta, nil); r.status != 200 {
		t.Errorf("alice's k1 after bob's delete: %d", r.status)
	}
	for _, body := range []string{`{"key":"k1"}`, `{"key":["k2","absent"]}`, `{"key":"absent"}`} {
		if r := e.do("DELETE", "/secrets", ta, body); r.status != 200 {
			t.Errorf("delete %s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.do("GET", "/secrets", ta, nil); string(r.body) != `{"k3":3,"shared":"alice"}` {
		t.Errorf("after deletes: %s", r.body)
	}
	for _, body := range []string{`{}`, `{"key":5}`, `{"key":[]}`, `{"key":[1]}`, `{"key":""}`, `[`, `{"key":null}`} {
		wantError(t, e.do("DELETE", "/secrets", ta, body), 400, "ValidationError", "")
	}
}

func TestJobTokenReads(t *testing.T) {
	e := newEnv(t)
	project, node := authtest.NewWallet(), authtest.NewWallet()
	tp := e.login(project)
	e.do("POST", "/secrets", tp, `{"secrets":{"granted":"g","also":"a","other":"o","granted-not":"x"}}`)

	jobTok, _, err := e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: project.Addr,
		Secrets: []string{"granted", "also", "missing"}, Job: "J"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/secrets", jobTok, nil); string(r.body) != `{"also":"a","granted":"g"}` {
		t.Errorf("job list: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets?prefix=gr", jobTok, nil); string(r.body) != `{"granted":"g"}` {
		t.Errorf("job list with prefix: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets/granted", jobTok, nil); string(r.body) != `"g"` {
		t.Errorf("job get: %d %s", r.status, r.body)
	}
	wantError(t, e.do("GET", "/secrets/other", jobTok, nil), 400, "ValidationError", "secret key other not in job")
	wantError(t, e.do("GET", "/secrets/granted-not", jobTok, nil), 400, "ValidationError", "not in job")
	wantError(t, e.do("GET", "/secrets/gran", jobTok, nil), 400, "ValidationError", "not in job")
	wantError(t, e.do("GET", "/secrets/missing", jobTok, nil), 404, "NotFoundError", "missing")

	// Writes land in the node's own namespace, never in the project's.
	if r := e.do("POST", "/secrets", jobTok, `{"secrets":{"granted":"overwritten?","result":"r"}}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	e.do("DELETE", "/secrets", jobTok, `{"key":"also"}`)
	if r := e.do("GET", "/secrets", tp, nil); string(r.body) != `{"also":"a","granted":"g","granted-not":"x","other":"o"}` {
		t.Errorf("project's namespace changed by a job token: %s", r.body)
	}
	tn := e.login(node)
	if r := e.do("GET", "/secrets", tn, nil); string(r.body) != `{"granted":"overwritten?","result":"r"}` {
		t.Errorf("node's own namespace: %s", r.body)
	}

	// An empty grant list reads nothing; no grant list at all is a 400.
	empty, _, _ := e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: project.Addr, Job: "J", Secrets: []string{}}, time.Time{})
	if r := e.do("GET", "/secrets", empty, nil); r.status != 200 || string(r.body) != `{}` {
		t.Errorf("empty grant list: %d %s", r.status, r.body)
	}
	none, _, _ := e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: project.Addr, Job: "J", NoGrantList: true}, time.Time{})
	wantError(t, e.do("GET", "/secrets", none, nil), 400, "ValidationError", "no secrets in job")
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("OPTIONS", e.url+"/secrets", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") ||
		h.Get("Access-Control-Allow-Headers") != "authorization, content-type" ||
		!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("preflight: %d %v", res.StatusCode, h)
	}
	req, _ = http.NewRequest("GET", e.url+"/", nil)
	req.Header.Set("Origin", "https://other.example")
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://other.example" || res.Header.Get("Vary") != "Origin" {
		t.Errorf("simple request: %v", res.Header)
	}
}

func TestConcurrentWritersOneKey(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				r := e.do("POST", "/secrets", tok, fmt.Sprintf(`{"secrets":{"k":{"g":%d,"i":%d,"pad":"%s"}}}`, g, i, strings.Repeat("p", 1000)))
				if r.status != 200 {
					errs <- fmt.Sprintf("%d %s", r.status, r.body)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var v struct {
		G, I int
		Pad  string
	}
	r := e.do("GET", "/secrets/k", tok, nil)
	if err := json.Unmarshal(r.body, &v); err != nil || len(v.Pad) != 1000 {
		t.Errorf("torn value: %s", r.body)
	}
}

func authClaims(addr string) auth.Claims { return auth.Claims{Address: addr} }

// TestOriginalJobTokenRefused: a token of the original server's job shape
// (userAddress and secrets, no job claim: nothing would check the job still
// runs) is 403 on every route; its plain owner token shape still reads.
func TestOriginalJobTokenRefused(t *testing.T) {
	e := newEnv(t)
	project := authtest.NewWallet()
	e.do("POST", "/secrets", e.login(project), `{"secrets":{"k":"v"}}`)
	sign := func(m jwt.MapClaims) string {
		m["iat"], m["exp"] = e.now.Unix(), e.now.Add(time.Hour).Unix()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString([]byte("test-jwt-key-of-thirty-two-bytes"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	job := sign(jwt.MapClaims{"address": authtest.NewWallet().Addr, "userAddress": project.Addr, "secrets": []string{"k"}})
	for _, route := range []string{"/secrets", "/secrets/k"} {
		wantError(t, e.do("GET", route, job, nil), 403, "ForbiddenError", "job token without a job")
	}
	owner := sign(jwt.MapClaims{"address": project.Addr})
	if r := e.do("GET", "/secrets/k", owner, nil); r.status != 200 || string(r.body) != `"v"` {
		t.Errorf("original owner token: %d %s", r.status, r.body)
	}
}

// TestNoStoreHeaders: every /login and /secrets* answer, errors included,
// says no-store and nosniff.
func TestNoStoreHeaders(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	for _, r := range []resp{
		e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix())),
		e.do("POST", "/login", "", `{}`),
		e.do("GET", "/secrets", tok, nil),
		e.do("GET", "/secrets/", tok, nil),
		e.do("GET", "/secrets/missing", tok, nil),
		e.do("GET", "/secrets/a/b", tok, nil),
		e.do("GET", "/secrets", "", nil),
		e.do("GET", "/secrets", "Bearer nonsense", nil),
		e.do("POST", "/secrets", tok, `{"secrets":{"k":"v"}}`),
		e.do("POST", "/secrets", tok, strings.Repeat("x", server.DefaultBodyLimit+1)),
		e.do("DELETE", "/secrets", tok, `{}`),
		e.do("PUT", "/secrets", tok, nil),
	} {
		if cc, n := r.header.Get("Cache-Control"), r.header.Get("X-Content-Type-Options"); cc != "no-store" || n != "nosniff" {
			t.Errorf("%d %.60s: Cache-Control %q, X-Content-Type-Options %q", r.status, r.body, cc, n)
		}
	}
}
