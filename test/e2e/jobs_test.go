package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

// TestJobAccessThroughBinary drives the job rules through the real binary
// with SOLANA_RPC_URL, JOBS_PROGRAM_ID and IPFS_GATEWAY pointed at a fake
// RPC node and gateway: the node reads exactly the granted keys until the
// job ends, a forged account yields nothing, and an RPC outage is a 503.
func TestJobAccessThroughBinary(t *testing.T) {
	ch := jobstest.NewChain(t)
	rpc, gw, program := ch.RPC, ch.Gateway, jobstest.DevnetProgram
	cfg := ch.Config("sqlite://" + filepath.Join(t.TempDir(), "jobs.sqlite"))
	cfg["JOB_RECHECK"] = "0"
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}

	project, node, intruder := authtest.NewWallet(), authtest.NewWallet(), authtest.NewWallet()
	tp := a.login(project)
	a.expect(a.do("POST", "/secrets", tp, `{"secrets":{"pipeline1-ssh-key":"ssh","private":"no"}}`), 200, "", "")
	pk := func(w authtest.Wallet) solana.PublicKey { return solana.MustPublicKeyFromBase58(w.Addr) }

	doc := gw.AddJSON(t, map[string]any{"type": "Github", "secrets": []string{"pipeline1-ssh-key"}})
	job := ch.PutRunning(doc, project.Addr, node.Addr, 300)

	login := func(w authtest.Wallet, j solana.PublicKey) reply {
		body := w.LegacyLogin(time.Now().Unix())
		body["job"] = j.String()
		return a.do("POST", "/login", "", body)
	}
	r := login(node, job)
	if r.status != 200 {
		t.Fatalf("node login: %d %s", r.status, r.body)
	}
	tok := r.field(t, "token")
	var claims struct{ Exp, Iat int64 }
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	_ = json.Unmarshal(payload, &claims)
	if claims.Exp-claims.Iat > 300 {
		t.Errorf("job token lives %d s, longer than the job's 300 s timeout", claims.Exp-claims.Iat)
	}
	if r := a.do("GET", "/secrets", tok, nil); string(r.body) != `{"pipeline1-ssh-key":"ssh"}` {
		t.Errorf("node reads %d %s", r.status, r.body)
	}
	a.expect(a.do("GET", "/secrets/private", tok, nil), 400, "ValidationError", "secret key private not in job")
	a.expect(login(intruder, job), 400, "ValidationError", "You did not claim this job:"+job.String())

	// A job account forged by another program: intruder as project, the
	// project as node, "finished" — the original server would have given
	// the intruder the project's secrets.
	forged := solanatest.NewKey()
	result := gw.AddJSON(t, map[string]any{"secrets": []string{"private"}})
	rpc.PutJob(forged, solanatest.NewKey(), solana.Job{IPFSResult: result, Project: pk(intruder), Node: pk(project), State: 2})
	if r := login(intruder, forged); r.status != 400 || strings.Contains(string(r.body), "token") {
		t.Fatalf("forged account: %d %s", r.status, r.body)
	}

	// The job ends: the node's token reads nothing more.
	rpc.PutJob(job, program, solana.Job{IPFSJob: doc, Project: pk(project), Node: pk(node), State: 2})
	a.expect(a.do("GET", "/secrets/pipeline1-ssh-key", tok, nil), 403, "ForbiddenError", "")

	// RPC down: 503, no token.
	rpc.SetFailure(solanatest.FailHTTP500)
	a.expect(login(node, job), 503, "InternalServerError", "could not check job")
}
