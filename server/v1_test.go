package server_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

func TestWhoami(t *testing.T) {
	e := newEnv(t)
	owner, node := authtest.NewWallet(), authtest.NewWallet()
	type who struct {
		Address   string    `json:"address"`
		Scope     string    `json:"scope"`
		Namespace string    `json:"namespace"`
		Job       string    `json:"job"`
		Keys      []string  `json:"keys"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	whoami := func(tok string) (who, map[string]any) {
		t.Helper()
		r := e.do("GET", "/v1/whoami", tok, nil)
		if r.status != 200 {
			t.Fatalf("whoami: %d %s", r.status, r.body)
		}
		var w who
		if err := json.Unmarshal(r.body, &w); err != nil {
			t.Fatal(err)
		}
		return w, r.json(t)
	}

	w, raw := whoami(e.login(owner))
	exp := e.now.Truncate(time.Second).Add(auth.DefaultTokenTTL)
	if w.Address != owner.Addr || w.Scope != "owner" || w.Namespace != owner.Addr || !w.ExpiresAt.Equal(exp) {
		t.Errorf("owner token: %+v, want expiry %s", w, exp)
	}
	if _, ok := raw["keys"]; ok {
		t.Errorf("owner token lists keys: %v", raw)
	}
	if _, ok := raw["job"]; ok {
		t.Errorf("owner token names a job: %v", raw)
	}

	// A node's token for a running job reads the project's namespace.
	const job = "GNUyAWxo7NCX8KtusRkNVbnPBUXKBvgaMR4kmcNAT3tZ"
	deadline := e.now.Add(10 * time.Minute)
	tok, _, err := e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: owner.Addr,
		Secrets: []string{"DB_PASSWORD", "ci/key"}, Job: job}, deadline)
	if err != nil {
		t.Fatal(err)
	}
	w, _ = whoami("Bearer " + tok)
	if w.Address != node.Addr || w.Scope != "job" || w.Namespace != owner.Addr || w.Job != job ||
		!slices.Equal(w.Keys, []string{"DB_PASSWORD", "ci/key"}) || !w.ExpiresAt.Equal(deadline.Truncate(time.Second)) {
		t.Errorf("job token: %+v", w)
	}

	// A job token that grants nothing says so with an empty list.
	tok, _, _ = e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: owner.Addr, Job: job}, time.Time{})
	if _, raw := whoami(tok); raw["scope"] != "job" || raw["keys"] == nil || len(raw["keys"].([]any)) != 0 {
		t.Errorf("job token without grants: %v", raw)
	}

	wantError(t, e.do("GET", "/v1/whoami", "", nil), 403, "ForbiddenError", "Not authenticated")
	e.now = e.now.Add(2 * time.Hour)
	wantError(t, e.do("GET", "/v1/whoami", e.login(owner)[:20], nil), 403, "ForbiddenError", "")
}
