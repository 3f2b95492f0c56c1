package server_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/server"
)

// TestAuditKeys: GET /v1/audit/key answers, without a token, the public
// half of the key derived from the server's master key, so a client can
// check the log's signatures; a bad token is refused as everywhere, and a
// server that keeps no audit log has no key to publish.
func TestAuditKeys(t *testing.T) {
	e := newEnv(t)
	kr, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize)) // newEnv's master key
	if err != nil {
		t.Fatal(err)
	}
	signer, err := seal.AuditSigner(kr, "")
	if err != nil {
		t.Fatal(err)
	}
	want := signer.PublicKey()
	for _, auth := range []string{"", e.login(authtest.NewWallet())} {
		r := e.do("GET", "/v1/audit/key", auth, nil)
		var got struct {
			Keys []struct {
				ID  string `json:"id"`
				Key string `json:"public_key"`
			}
		}
		if r.status != 200 || json.Unmarshal(r.body, &got) != nil || len(got.Keys) != 1 {
			t.Fatalf("GET /v1/audit/key: %d %s", r.status, r.body)
		}
		if got.Keys[0].ID != want.ID || got.Keys[0].Key != want.Key {
			t.Errorf("published %+v, want the master key's %+v", got.Keys[0], want)
		}
		if bytes.Contains(r.body, []byte("private")) || len(r.body) > 200 {
			t.Errorf("the answer carries more than public keys: %s", r.body)
		}
	}
	wantCode(t, e.do("GET", "/v1/audit/key", "junk", nil), 403, "token_invalid")

	off := newEnv(t, func(o *server.Options) { o.History.Off = true })
	wantCode(t, off.do("GET", "/v1/audit/key", "", nil), 501, "history_unsupported")
}
