package e2e_test

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
)

// TestV1Holes closes issue 19's smaller holes through the binary on every
// backend that keeps history: a cursor the server did not give out is a
// 400, a job token cannot destroy a key, a job reads 400 key_not_granted
// for a key it lacks and one 404 body for a deleted and an absent key it
// may read, and a v1 body naming a key twice is refused before any write.
func TestV1Holes(t *testing.T) {
	for _, b := range backends {
		if !slices.Contains(keepsHistory, b.name) {
			continue
		}
		t.Run(b.name, func(t *testing.T) { v1Holes(t, b.uri(t)) })
	}
}

func v1Holes(t *testing.T, uri string) {
	ch := jobstest.NewChain(t)
	cfg := ch.Config(uri)
	cfg["JOB_RECHECK"] = "0"
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	code := func(r reply, status int, want string) {
		t.Helper()
		if r.status != status || r.field(t, "code") != want {
			t.Errorf("%d %s, want %d %s", r.status, r.body, status, want)
		}
	}

	project, node := authtest.NewWallet(), authtest.NewWallet()
	owner := a.login(project)
	a.expect(a.do("POST", "/secrets", owner, `{"secrets":{"live":"v-live","gone":"v-gone","private":"v-private","a1":1,"a2":2,"a3":3}}`), 200, "", "")
	a.expect(a.do("DELETE", "/v1/secrets/gone", owner, nil), 200, "", "")

	// Cursors: only what the server gave out.
	r := a.do("GET", "/v1/secrets?limit=1", owner, nil)
	a.expect(r, 200, "", "")
	good := r.field(t, "next_cursor")
	if good == "" {
		t.Fatalf("no cursor: %s", r.body)
	}
	a.expect(a.do("GET", "/v1/secrets?limit=1&cursor="+good, owner, nil), 200, "", "")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, cur := range []string{
		"9223372036854775808", "18446744073709551616", "99999999999999999999999999999999", "-1", "0",
		"%21%21", "YQ==", b64([]byte(strings.Repeat("k", 513))), b64([]byte("a\x00b")), b64([]byte{0xff, 0xfe}),
		strings.Repeat("A", 20000),
	} {
		for _, path := range []string{"/v1/secrets?cursor=", "/v1/secrets?as_of=2030-01-01T00:00:00Z&cursor=", "/v1/audit?cursor="} {
			if strings.HasPrefix(path, "/v1/audit") && strings.HasPrefix(cur, "%") {
				continue
			}
			r := a.do("GET", path+cur, owner, nil)
			if r.status != 400 || r.field(t, "code") != "invalid_request" {
				t.Errorf("%s%.40s: %d %.200s", path, cur, r.status, r.body)
			}
		}
	}

	// A running job granted live, gone and never (which was never set).
	doc := ch.Gateway.AddJSON(t, map[string]any{"type": "Github", "secrets": []string{"live", "gone", "never"}})
	job := ch.PutRunning(doc, project.Addr, node.Addr, 300)
	body := node.LegacyLogin(time.Now().Unix())
	body["job"] = job.String()
	r = a.do("POST", "/login", "", body)
	a.expect(r, 200, "", "")
	jobTok := "Bearer " + r.field(t, "token")

	if r := a.do("GET", "/v1/secrets/live", jobTok, nil); r.status != 200 || !strings.Contains(string(r.body), `"v-live"`) {
		t.Errorf("job reads live: %d %s", r.status, r.body)
	}
	code(a.do("GET", "/v1/secrets/private", jobTok, nil), 400, "key_not_granted")
	gone, never := a.do("GET", "/v1/secrets/gone", jobTok, nil), a.do("GET", "/v1/secrets/never", jobTok, nil)
	code(gone, 404, "secret_not_found")
	code(never, 404, "secret_not_found")
	if strings.Replace(string(gone.body), "gone", "never", 1) != string(never.body) {
		t.Errorf("a job tells deleted from absent:\n%s\n%s", gone.body, never.body)
	}
	code(a.do("GET", "/v1/secrets/gone", owner, nil), 404, "secret_deleted")
	code(a.do("GET", "/v1/secrets/never", owner, nil), 404, "secret_not_found")

	// destroy is the owner's, as versions and restore are.
	for _, key := range []string{"live", "gone", "never"} {
		code(a.do("DELETE", "/v1/secrets/"+key+"?destroy=true", jobTok, nil), 403, "owner_only")
		code(a.do("GET", "/v1/secrets/"+key+"/versions", jobTok, nil), 403, "owner_only")
	}
	// The node's own key, in its own namespace, is no more its job's to destroy.
	nodeTok := a.login(node)
	a.expect(a.do("PUT", "/v1/secrets/mine", nodeTok, `{"value":"n"}`), 200, "", "")
	code(a.do("DELETE", "/v1/secrets/mine?destroy=true", jobTok, nil), 403, "owner_only")
	a.expect(a.do("GET", "/v1/secrets/mine/versions", nodeTok, nil), 200, "", "")
	a.expect(a.do("DELETE", "/v1/secrets/mine?destroy=true", nodeTok, nil), 200, "", "")

	// Duplicate keys: refused before anything is written.
	for _, body := range []string{
		`{"value":"dup","cas":0,"cas":null}`,
		`{"value":"dup","cas":0,"c\u0061s":null}`,
		`{"value":"dup","cas":0,"CAS":null}`,
		`{"value":"dup","value":"dup2"}`,
		`{"value":{"role":"user","role":"admin"}}`,
		`{"value":[{"x":{"k":1,"k":2}}]}`,
	} {
		code(a.do("PUT", "/v1/secrets/live", owner, body), 400, "invalid_request")
		code(a.do("PUT", "/v1/secrets/fresh", owner, body), 400, "invalid_request")
	}
	code(a.do("POST", "/v1/secrets/live/restore", owner, `{"version":1,"version":1}`), 400, "invalid_request")
	code(a.do("POST", "/v1/restore", owner, `{"as_of":"2030-01-01T00:00:00Z","prefix":"zzz","prefix":""}`), 400, "invalid_request")
	if r := a.do("GET", "/v1/secrets/live", owner, nil); !strings.Contains(string(r.body), `"value":"v-live","version":1`) {
		t.Errorf("live after refused writes: %s", r.body)
	}
	code(a.do("GET", "/v1/secrets/fresh", owner, nil), 404, "secret_not_found")
	// Distinct keys, even differing only in case, are a fine value.
	a.expect(a.do("PUT", "/v1/secrets/fresh", owner, `{"value":{"a":1,"A":2},"cas":0}`), 200, "", "")
	// Legacy routes keep their behaviour: the last duplicate wins.
	a.expect(a.do("POST", "/secrets", owner, `{"secrets":{"legacy":"1","legacy":"2"}}`), 200, "", "")
	if r := a.do("GET", "/secrets/"+url.PathEscape("legacy"), owner, nil); string(r.body) != `"2"` {
		t.Errorf("legacy duplicate: %d %s", r.status, r.body)
	}
}
