package cmd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestWhoamiVerb asks the real server through the real binary who a fresh
// keypair is, in text and JSON, and that it fails cleanly with no server.
func TestWhoamiVerb(t *testing.T) {
	srv := startServer(t, nil)
	u := newUser(t, srv.URL)
	r := u.run("", "keygen")
	if r.code != 0 {
		t.Fatalf("keygen: %+v", r)
	}
	address := strings.TrimSpace(r.stdout)

	r = u.run("", "whoami")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) != 5 || lines[0] != "address:   "+address || lines[1] != "scope:     owner" ||
		lines[2] != "namespace: "+address || !strings.HasPrefix(lines[3], "expires:   ") {
		t.Fatalf("whoami: %+v", r)
	}

	r = u.run("", "whoami", "-o", "json")
	var w struct {
		Address, Scope, Namespace string
		ExpiresAt                 time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &w); err != nil || r.code != 0 || w.Address != address ||
		w.Scope != "owner" || w.Namespace != address || time.Until(w.ExpiresAt) < 50*time.Minute {
		t.Fatalf("whoami -o json: %+v (%v)", r, err)
	}
	if strings.Contains(r.stdout+r.stderr, "eyJ") {
		t.Error("whoami printed a token")
	}

	u.expect(2, "", "", "whoami", "extra")
	u.endpoint = "http://127.0.0.1:1"
	if r := u.run("", "whoami"); r.code != 5 || strings.Count(r.stderr, "\n") > 2 {
		t.Errorf("no server: %+v", r)
	}
}
