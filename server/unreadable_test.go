package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

// TestListingSkipsUnreadable: a value that does not open no longer fails
// the owner's whole listing: the others are answered, the bad one is named
// in the log at ERROR, counted in /metrics and in a response header.
func TestListingSkipsUnreadable(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	body := `{"secrets":{"good1":"v1","tampered":"s3cr3t-value","good2":"v2"}}`
	if r := e.do("POST", "/secrets", tok, body); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	e.tamper(w.Addr, "tampered")

	r := e.do("GET", "/secrets", tok, nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s, want 200 with the readable secrets", r.status, r.body)
	}
	var got map[string]string
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["good1"] != "v1" || got["good2"] != "v2" {
		t.Fatalf("list = %s, want good1 and good2 only", r.body)
	}
	if h := r.header.Get(server.HeaderUnreadable); h != "1" {
		t.Errorf("%s = %q, want 1", server.HeaderUnreadable, h)
	}
	if r := e.do("GET", "/secrets", tok, nil); r.header.Get(server.HeaderUnreadable) != "1" {
		t.Fatalf("second list: %d %v", r.status, r.header)
	}
	if r := e.do("GET", "/secrets?prefix=good", tok, nil); r.header.Get(server.HeaderUnreadable) != "" {
		t.Errorf("a listing without bad values says %q unreadable", r.header.Get(server.HeaderUnreadable))
	}

	logs := e.logs.String()
	var found bool
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"name":"tampered"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no ERROR line names the unreadable secret; logs:\n%s", logs)
	}
	if strings.Contains(logs, "s3cr3t-value") {
		t.Error("a secret value reached the log")
	}
	m := e.do("GET", "/metrics", "", nil)
	if !strings.Contains(string(m.body), "nosana_secrets_unreadable_values_total 2") {
		t.Errorf("metric not counted:\n%s", grepLines(string(m.body), "unreadable"))
	}
}

// tamper flips a bit of the sealed value of owner's key in the store, so
// that it no longer opens.
func (e *env) tamper(owner, key string) {
	e.t.Helper()
	ctx := context.Background()
	sec, err := e.store.Get(ctx, owner, key)
	if err != nil {
		e.t.Fatal(err)
	}
	bad := append([]byte(nil), sec.Value...)
	bad[len(bad)-1] ^= 1
	if err := e.store.Put(ctx, owner, []storage.Item{{Name: key, Value: bad}}); err != nil {
		e.t.Fatal(err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLongListingStreams: a listing of many pages is the whole object, in
// order, and one unreadable value in a later page is named in a trailer.
func TestLongListingStreams(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	tok := e.login(w)
	const n = 1000
	secrets := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("k%04d", i)
		secrets[k] = fmt.Sprintf("value %d", i)
	}
	body, _ := json.Marshal(map[string]any{"secrets": secrets})
	if r := e.do("POST", "/secrets", tok, body); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	e.tamper(w.Addr, "k0700")

	req, _ := http.NewRequest("GET", e.url+"/secrets", nil)
	req.Header.Set("Authorization", tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("not one JSON object (%v): %.200s", err, raw)
	}
	delete(secrets, "k0700")
	if len(got) != len(secrets) {
		t.Fatalf("%d secrets, want %d", len(got), len(secrets))
	}
	for k, v := range secrets {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !strings.HasPrefix(string(raw), `{"k0000":`) {
		t.Errorf("not in order: %.40s", raw)
	}
	if tr := res.Trailer.Get(server.HeaderUnreadable); tr != "1" {
		t.Errorf("trailer %s = %q, want 1", server.HeaderUnreadable, tr)
	}
}
