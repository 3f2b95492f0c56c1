package server_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/ratelimit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

// TestValuesAreSealed: what reaches the store is ciphertext bound to its
// owner and key; a blob moved to another owner or key does not open.
func TestValuesAreSealed(t *testing.T) {
	e := newEnv(t)
	alice, bob := authtest.NewWallet(), authtest.NewWallet()
	ta, tb := e.login(alice), e.login(bob)
	e.do("POST", "/secrets", ta, `{"secrets":{"db":"hunter2-plaintext","n":12345}}`)
	e.do("POST", "/secrets", tb, `{"secrets":{"db":"bob's own"}}`)

	ctx := context.Background()
	stored, err := e.store.Get(ctx, alice.Addr, "db")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Value, []byte("hunter2")) {
		t.Fatal("the store holds the value in clear text")
	}
	// Copy alice's blob over bob's secret and under another of alice's names.
	if err := e.store.Put(ctx, bob.Addr, []storage.Item{{Name: "db", Value: stored.Value}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put(ctx, alice.Addr, []storage.Item{{Name: "n", Value: stored.Value}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ tok, path string }{{tb, "/secrets/db"}, {ta, "/secrets/n"}} {
		r := e.do("GET", c.path, c.tok, nil)
		wantError(t, r, 500, "InternalServerError", "")
		if bytes.Contains(r.body, []byte("hunter2")) {
			t.Errorf("a moved blob leaked: %s", r.body)
		}
	}
	// A listing leaves the blob out and says so (issue 8 item 15).
	if r := e.do("GET", "/secrets", tb, nil); r.status != 200 || string(r.body) != "{}" || r.header.Get(server.HeaderUnreadable) != "1" {
		t.Errorf("bob's listing: %d %s %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "/secrets/db", ta, nil); string(r.body) != `"hunter2-plaintext"` {
		t.Errorf("alice's own value: %d %s", r.status, r.body)
	}
	if strings.Contains(e.logs.String(), "hunter2") {
		t.Error("a value reached the log")
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(o *server.Options) {
		o.Limits = &server.Limits{
			Limiter:   ratelimit.New(o.Store, ratelimit.Options{Now: o.Now}),
			LoginIP:   5,
			SecretsIP: 1000, SecretsAddress: 3,
		}
	})
	w := authtest.NewWallet()
	for i := 0; i < 5; i++ {
		if r := e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix())); r.status != 200 {
			t.Fatalf("login %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix()))
	wantError(t, r, 429, "TooManyRequestsError", "try again")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Bad logins count against the IP too.
	wantError(t, e.do("POST", "/login", "", `{}`), 429, "TooManyRequestsError", "")

	tok, _, _ := e.tokens.Issue(authClaims(w.Addr), time.Time{})
	for i := 0; i < 3; i++ {
		if r := e.do("GET", "/secrets", "Bearer "+tok, nil); r.status != 200 {
			t.Fatalf("read %d: %d", i, r.status)
		}
	}
	wantError(t, e.do("GET", "/secrets/x", "Bearer "+tok, nil), 429, "TooManyRequestsError", "wallet")
	other := authtest.NewWallet()
	tok2, _, _ := e.tokens.Issue(authClaims(other.Addr), time.Time{})
	if r := e.do("GET", "/secrets", "Bearer "+tok2, nil); r.status != 200 {
		t.Errorf("another authtest.Wallet was limited: %d", r.status)
	}
}
