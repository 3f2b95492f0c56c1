package client_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/keypair"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

func testKey(t *testing.T) (*keypair.Keypair, string) {
	t.Helper()
	v := vectors.Load(t)
	seed, _ := hex.DecodeString(v.Keypair.SeedHex)
	kp, err := keypair.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return kp, v.Keypair.Address
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignInMessage(t *testing.T) {
	kp, addr := testKey(t)
	srv := clienttest.NewServer(t)
	var got *client.Token
	c := newClient(t, client.Config{Endpoint: srv.URL + "/", Signer: kp, OnLogin: func(tk *client.Token) { got = tk }})
	tok, err := c.Login(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != tok || tok.Address != addr || !tok.ValidFor(time.Now(), 50*time.Minute) {
		t.Errorf("token %+v, OnLogin %v", tok, got)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/login" || reqs[0].Authorization != "" {
		t.Fatalf("requests %+v", reqs)
	}
	var body map[string]string
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["timestamp"]; ok {
		t.Error("SIWS login also sent a timestamp")
	}
	m, err := auth.ParseSIWS(body["message"])
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if m.Domain != host || m.URI != srv.URL || m.Address != addr || m.Statement != auth.Statement || m.Version != "1" {
		t.Errorf("message %+v", m)
	}
	if len(m.Nonce) < 16 || time.Since(m.IssuedAt) > time.Minute || m.IssuedAt.Location() != time.UTC {
		t.Errorf("nonce %q issued %v", m.Nonce, m.IssuedAt)
	}
	if body["message"] != m.String() {
		t.Error("message is not in canonical form")
	}
	if body["address"] != addr || body["job"] != "" {
		t.Errorf("body %v", body)
	}
	if ua := reqs[0].UserAgent; !strings.HasPrefix(ua, "nosana-secrets/") {
		t.Errorf("user agent %q", ua)
	}
}

func TestNoncesDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n, err := client.Nonce()
		if err != nil || len(n) != client.NonceLen || seen[n] {
			t.Fatalf("nonce %q %v", n, err)
		}
		for _, c := range n {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				t.Fatalf("nonce %q has %q", n, c)
			}
		}
		seen[n] = true
	}
}

func TestLegacyLogin(t *testing.T) {
	kp, _ := testKey(t)
	srv := clienttest.NewServer(t)
	srv.DisableSIWS()
	c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp})
	_, err := c.Login(context.Background())
	var le *client.LoginError
	var he *client.HTTPError
	if !errors.As(err, &le) || !errors.As(err, &he) || he.Status != 400 || he.Type != "ValidationError" {
		t.Fatalf("SIWS against an old server: %v", err)
	}
	if !strings.Contains(err.Error(), "not available yet") {
		t.Errorf("message lost: %v", err)
	}

	c = newClient(t, client.Config{Endpoint: srv.URL, Signer: kp, Legacy: true})
	if _, err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	var body map[string]any
	_ = json.Unmarshal(reqs[len(reqs)-1].Body, &body)
	if _, ok := body["message"]; ok || body["timestamp"] == nil {
		t.Errorf("legacy body %v", body)
	}
}

func TestCRUD(t *testing.T) {
	kp, addr := testKey(t)
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp})
	ctx := context.Background()
	err := c.Set(ctx, client.Secrets{"a/b": json.RawMessage(`{"x": 1}`), "..": json.RawMessage(`"dots"`), "k": json.RawMessage(`42`)}, "p:")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Secrets(addr); string(got["p:a/b"]) != `{"x":1}` || string(got["p:.."]) != `"dots"` {
		t.Fatalf("stored %v", got)
	}
	for key, want := range map[string]string{"p:a/b": `{"x":1}`, "p:..": `"dots"`, "p:k": `42`} {
		v, err := c.Get(ctx, key)
		if err != nil || string(v) != want {
			t.Errorf("Get(%q) = %s, %v", key, v, err)
		}
	}
	if _, err := c.GetString(ctx, "p:k"); err == nil {
		t.Error("GetString of a number succeeded")
	}
	all, err := c.List(ctx, "p:a")
	if err != nil || len(all) != 1 || string(all["p:a/b"]) != `{"x":1}` {
		t.Errorf("List = %v, %v", all, err)
	}
	if err := c.SetStrings(ctx, map[string]string{"..": "dot dot"}, ""); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetString(ctx, ".."); err != nil || v != "dot dot" {
		t.Errorf("Get(..) = %q, %v", v, err)
	}
	if err := c.Delete(ctx, "p:a/b", "p:k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "p:k"); !client.IsNotFound(err) {
		t.Errorf("deleted key: %v", err)
	}
	paths := []string{}
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path+"?"+r.Query)
	}
	got := strings.Join(paths, " ")
	for _, want := range []string{"POST /login? POST /secrets? ", "GET /secrets/p:a%2Fb?", "GET /secrets/p:..?", "GET /secrets/%2E%2E?", "GET /secrets?prefix=p%3Aa", "DELETE /secrets?"} {
		if !strings.Contains(got, want) {
			t.Errorf("requests %s lack %s", got, want)
		}
	}
	if srv.Logins() != 1 {
		t.Errorf("%d logins for one client", srv.Logins())
	}
}

func TestReloginOnceOn403(t *testing.T) {
	kp, addr := testKey(t)
	srv := clienttest.NewServer(t)
	srv.Put(addr, map[string]any{"K": "v"})
	logins := 0
	c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp, Token: srv.Token(addr), OnLogin: func(*client.Token) { logins++ }})
	ctx := context.Background()
	if _, err := c.Get(ctx, "K"); err != nil || logins != 0 {
		t.Fatalf("cached token: %v, %d logins", err, logins)
	}
	time.Sleep(1100 * time.Millisecond) // tokens carry whole seconds
	srv.RevokeTokens()
	time.Sleep(1100 * time.Millisecond)
	if v, err := c.Get(ctx, "K"); err != nil || string(v) != `"v"` || logins != 1 {
		t.Fatalf("after revocation: %s %v, %d logins", v, err, logins)
	}
	// A 403 that a new token does not cure is returned, after one retry.
	srv.Fail(clienttest.Failure{Status: 403}, clienttest.Failure{Status: 200, Body: `{"token":"x.y.z"}`})
	_, err := c.Get(ctx, "K")
	var le *client.LoginError
	if !errors.As(err, &le) {
		t.Fatalf("bad token answer: %v", err)
	}
	srv.Fail(clienttest.Failure{Status: 403}, clienttest.Failure{}, clienttest.Failure{Status: 403})
	before := len(srv.Requests())
	_, err = c.Get(ctx, "K")
	if !client.IsForbidden(err) || len(srv.Requests())-before != 3 {
		t.Fatalf("403 twice: %v after %d requests", err, len(srv.Requests())-before)
	}
	// Without a signer there is nothing to retry with.
	bare := newClient(t, client.Config{Endpoint: srv.URL, Token: "nope"})
	if _, err := bare.Get(ctx, "K"); !client.IsForbidden(err) {
		t.Fatalf("bare client: %v", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	kp, addr := testKey(t)
	cases := []struct {
		name    string
		fail    clienttest.Failure
		status  int
		typ     string
		message string
	}{
		{"json body", clienttest.Failure{Status: 400, Body: `{"type":"ValidationError","error":"bad key","message":"bad key"}`}, 400, "ValidationError", "bad key"},
		{"legacy error field", clienttest.Failure{Status: 400, Body: `{"type":"ValidationError","error":"old"}`}, 400, "ValidationError", "old"},
		{"proxy page", clienttest.Failure{Status: 502, Body: "<html>\n<b>Bad Gateway</b></html>"}, 502, "", "Bad Gateway"},
		{"server fault", clienttest.Failure{Status: 500, Body: `{"type":"InternalServerError"}`}, 500, "InternalServerError", "Internal Server Error"},
		{"not found", clienttest.Failure{Status: 404, Body: `{"type":"NotFoundError","message":"secret K not found","code":"not_found"}`}, 404, "NotFoundError", "secret K not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := clienttest.NewServer(t)
			c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp, Token: srv.Token(addr)})
			srv.Fail(tc.fail)
			_, err := c.Get(context.Background(), "K")
			var he *client.HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("error %T %v", err, err)
			}
			if he.Status != tc.status || he.Type != tc.typ || !strings.Contains(he.Message, tc.message) {
				t.Errorf("got %+v", he)
			}
			if wantCode := map[string]string{"not found": "not_found"}[tc.name]; he.Code != wantCode || he.FromAPI() != (tc.typ != "") {
				t.Errorf("code %q, FromAPI %v", he.Code, he.FromAPI())
			}
			if strings.Contains(err.Error(), "\n") || client.IsNetwork(err) {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"type":"TooManyRequestsError","message":"slow down"}`))
	}))
	defer srv.Close()
	c := newClient(t, client.Config{Endpoint: srv.URL, Token: "t"})
	_, err := c.List(context.Background(), "")
	var he *client.HTTPError
	if !errors.As(err, &he) || he.RetryAfter != 7*time.Second {
		t.Fatalf("%v", err)
	}
}

func TestNetworkErrors(t *testing.T) {
	kp, _ := testKey(t)
	srv := clienttest.NewServer(t)
	srv.Close()
	c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp})
	_, err := c.Get(context.Background(), "K")
	var ne *client.NetworkError
	if !errors.As(err, &ne) || !client.IsNetwork(err) || ne.Timeout() {
		t.Fatalf("closed server: %T %v", err, err)
	}
	if !strings.Contains(err.Error(), "cannot reach "+srv.URL) || !strings.Contains(err.Error(), "connection failed") {
		t.Errorf("message %q", err)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	c = newClient(t, client.Config{Endpoint: slow.URL, Token: "t", Timeout: 100 * time.Millisecond})
	_, err = c.Get(context.Background(), "K")
	if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("slow server: %v", err)
	}

	notAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer notAPI.Close()
	c = newClient(t, client.Config{Endpoint: notAPI.URL, Token: "t"})
	if _, err := c.List(context.Background(), ""); !client.IsNetwork(err) || !strings.Contains(err.Error(), "nosana-secrets server") {
		t.Fatalf("not the API: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:4124":          "http://localhost:4124",
		"http://localhost:4124/":         "http://localhost:4124",
		"https://example.com/api/":       "https://example.com/api",
		"":                               client.DefaultEndpoint,
		"  http://127.0.0.1:9/  ":        "http://127.0.0.1:9",
		"https://secrets.nosana.io:8443": "https://secrets.nosana.io:8443",
	} {
		c, err := client.New(client.Config{Endpoint: in})
		if err != nil || c.Endpoint() != want {
			t.Errorf("New(%q) = %v, %v", in, c, err)
		}
	}
	for _, bad := range []string{"localhost:4124", "ftp://x", "http://", "http://u:p@host", "http://h/?q=1", "::"} {
		if _, err := client.New(client.Config{Endpoint: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("error leaks credentials: %v", err)
		}
	}
	// A path prefix is kept for every route and is the sign-in URI.
	kp, _ := testKey(t)
	c, _ := client.New(client.Config{Endpoint: "https://example.com/api/", Signer: kp})
	m := c.SignInMessage("abcdefghijklmnop", time.Unix(1700000000, 0))
	if m.Domain != "example.com" || m.URI != "https://example.com/api" {
		t.Errorf("message %+v", m)
	}
}

func TestSignerMustBeEd25519(t *testing.T) {
	_, err := client.New(client.Config{Signer: badSigner{}})
	if err == nil {
		t.Fatal("accepted a non-ed25519 signer")
	}
	_, err = client.New(client.Config{Signer: ed25519.NewKeyFromSeed(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseToken(t *testing.T) {
	v := vectors.Load(t)
	tok, err := client.ParseToken(v.JWT.Token)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Address != v.JWT.Claims.Address || tok.Expires.Unix() != v.JWT.Claims.Exp || tok.IssuedAt.Unix() != v.JWT.Claims.Iat {
		t.Errorf("%+v", tok)
	}
	exp := time.Unix(v.JWT.Claims.Exp, 0)
	if !tok.ValidFor(exp.Add(-2*time.Minute), time.Minute) || tok.ValidFor(exp.Add(-30*time.Second), time.Minute) {
		t.Error("ValidFor ignores the margin")
	}
	if _, err := client.ParseToken("not a token"); err == nil {
		t.Error("garbage parsed")
	}
}

type badSigner struct{ ed25519.PrivateKey }

func (badSigner) Public() crypto.PublicKey { return "rsa" }

func TestMaxKeyLenIsTheServers(t *testing.T) {
	if client.MaxKeyLen != storage.MaxNameLen {
		t.Errorf("client.MaxKeyLen %d, the server's limit %d", client.MaxKeyLen, storage.MaxNameLen)
	}
}
