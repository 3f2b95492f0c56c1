package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
)

// TestSwappedJobDocumentThroughBinary: a gateway that serves another
// document than the one the chain names gets the node a 400 that says so
// and no token; the refusal is not cached, so the real document works
// once served. With IPFS_VERIFY=false the server warns at start and
// trusts the gateway.
func TestSwappedJobDocumentThroughBinary(t *testing.T) {
	ch := jobstest.NewChain(t)
	gw := ch.Gateway
	project, node := authtest.NewWallet(), authtest.NewWallet()

	real := []byte(`{"type":"Github","state":{"nosana/secrets":["pipeline1-ssh-key"]}}`)
	swapped := []byte(`{"type":"Github","state":{"nosana/secrets":["pipeline1-ssh-key","prod-db"]}}`)
	digest := gw.Add(real)
	cid := ipfs.CID(digest)
	job := ch.PutRunning(digest, project.Addr, node.Addr, 300)

	start := func(verify string) (api, *testserver.Server) {
		cfg := ch.Config("sqlite://" + filepath.Join(t.TempDir(), "verify.sqlite"))
		if verify != "" {
			cfg["IPFS_VERIFY"] = verify
		}
		srv := testserver.Start(t, cfg)
		a := api{t, srv.URL}
		a.expect(a.do("POST", "/secrets", a.login(project), `{"secrets":{"pipeline1-ssh-key":"ssh","prod-db":"pw"}}`), 200, "", "")
		return a, srv
	}
	login := func(a api) reply {
		body := node.LegacyLogin(time.Now().Unix())
		body["job"] = job.String()
		return a.do("POST", "/login", "", body)
	}

	a, srv := start("")
	if logs := srv.Logs(); strings.Contains(logs, "IPFS_VERIFY") {
		t.Errorf("warning about IPFS_VERIFY with the default setting:\n%s", logs)
	}
	gw.Put(cid, swapped)
	r := login(a)
	a.expect(r, 400, "ValidationError", "does not match the digest on chain")
	if !strings.Contains(string(r.body), cid) || strings.Contains(string(r.body), "token") {
		t.Errorf("refusal %s should name %s and carry no token", r.body, cid)
	}
	gw.Put(cid, real)
	r = login(a)
	if r.status != 200 {
		t.Fatalf("login once the gateway serves the real document: %d %s", r.status, r.body)
	}
	if got := a.do("GET", "/secrets", r.field(t, "token"), nil); string(got.body) != `{"pipeline1-ssh-key":"ssh"}` {
		t.Errorf("node reads %d %s", got.status, got.body)
	}

	gw.Put(cid, swapped)
	a, srv = start("false")
	if logs := srv.Logs(); !strings.Contains(logs, "IPFS_VERIFY is false") {
		t.Errorf("no warning for IPFS_VERIFY=false:\n%s", logs)
	}
	r = login(a)
	if r.status != 200 {
		t.Fatalf("IPFS_VERIFY=false: %d %s", r.status, r.body)
	}
	if got := a.do("GET", "/secrets", r.field(t, "token"), nil); string(got.body) != `{"pipeline1-ssh-key":"ssh","prod-db":"pw"}` {
		t.Errorf("with verification off the swapped document decides: %d %s", got.status, got.body)
	}
}
