package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestV1KeyInQuery: /v1/secret[/versions|/restore]?key=K addresses every
// key, "." and ".." included (which no browser can send as a path
// segment), as /v1/secrets/K does; the key must be given exactly once.
func TestV1KeyInQuery(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	keys := []string{".", "..", "...", "%", "%2E", "a/b", "/", "?", "#", "a b", "a+b", "日本/ключ", "\u202eevil", "<img src=x onerror=alert(1)>"}
	for i, k := range keys {
		q := "?key=" + url.QueryEscape(k)
		if r := e.do("PUT", "/v1/secret"+q, tok, `{"value":"v`+string(rune('A'+i))+`"}`); r.status != 200 || r.json(t)["key"] != k {
			t.Fatalf("PUT %q: %d %s", k, r.status, r.body)
		}
	}
	for i, k := range keys {
		want := "v" + string(rune('A'+i))
		q := "?key=" + url.QueryEscape(k)
		r := e.do("GET", "/v1/secret"+q, tok, nil)
		if r.status != 200 || r.json(t)["key"] != k || r.json(t)["value"] != want {
			t.Errorf("GET %q: %d %s", k, r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %q: Cache-Control %q", k, r.header.Get("Cache-Control"))
		}
		// The path form, as a client that does not normalize sends it.
		if r := e.do("GET", "/v1/secrets/"+strings.ReplaceAll(url.PathEscape(k), ".", "%2E"), tok, nil); r.json(t)["value"] != want {
			t.Errorf("GET path %q: %d %s", k, r.status, r.body)
		}
		if r := e.do("GET", "/v1/secret/versions"+q, tok, nil); r.status != 200 || !strings.Contains(string(r.body), `"version":1`) {
			t.Errorf("versions %q: %d %s", k, r.status, r.body)
		}
	}
	if r := e.do("DELETE", "/v1/secret?key=.", tok, nil); r.status != 200 {
		t.Fatalf("DELETE .: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/secret?key=..", tok, nil); r.status != 200 {
		t.Errorf("deleting . touched ..: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/secret/restore?key=.", tok, `{"version":1}`); r.status != 200 || r.json(t)["version"].(float64) != 3 {
		t.Errorf("restore .: %d %s", r.status, r.body)
	}
	for _, q := range []string{"", "?key=", "?key=a&key=b", "?key=%zz", "?k=a"} {
		if r := e.do("GET", "/v1/secret"+q, tok, nil); r.status != 400 || r.json(t)["code"] != "invalid_request" {
			t.Errorf("GET /v1/secret%s: %d %s", q, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/secret?key=a", "", nil); r.status != 403 {
		t.Errorf("no token: %d", r.status)
	}
}
