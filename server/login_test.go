package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/ratelimit"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
	"github.com/nosana-ci/nosana-secrets/server"
)

var testAudience = auth.Audience{Domain: "secrets.test:4124", URI: "https://secrets.test:4124"}

func (e *env) siwsBody(w authtest.Wallet, mod func(*auth.SIWS)) map[string]any {
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	m := auth.SIWS{Domain: testAudience.Domain, Address: w.Addr, Statement: auth.Statement, URI: testAudience.URI,
		Version: "1", Nonce: hex.EncodeToString(nonce), IssuedAt: e.now.UTC()}
	if mod != nil {
		mod(&m)
	}
	msg := m.String()
	return map[string]any{"address": w.Addr, "message": msg, "signature": base58.Encode(ed25519.Sign(w.Key, []byte(msg)))}
}

func TestLoginSIWS(t *testing.T) {
	e := newEnv(t)
	w := authtest.NewWallet()
	body := e.siwsBody(w, nil)
	r := e.do("POST", "/login", "", body)
	if r.status != 200 {
		t.Fatalf("SIWS login: %d %s", r.status, r.body)
	}
	if cl, err := e.tokens.Verify(r.json(t)["token"].(string)); err != nil || cl.Address != w.Addr {
		t.Fatalf("token: %+v %v", cl, err)
	}
	// The same message twice: the nonce is spent.
	wantError(t, e.do("POST", "/login", "", body), 400, "ValidationError", "used already")

	cases := map[string]struct {
		mod  func(*auth.SIWS)
		want string
	}{
		"other server":      {func(m *auth.SIWS) { m.Domain, m.URI = "evil.test", "https://evil.test" }, "this server is"},
		"other uri":         {func(m *auth.SIWS) { m.URI = "https://evil.test" }, "URI"},
		"stale":             {func(m *auth.SIWS) { m.IssuedAt = e.now.Add(-2 * time.Minute) }, "outside"},
		"short nonce":       {func(m *auth.SIWS) { m.Nonce = "abc" }, "Nonce"},
		"expired":           {func(m *auth.SIWS) { m.ExpirationTime = e.now.Add(-time.Second) }, "expired"},
		"someone else's":    {func(m *auth.SIWS) { m.Address = authtest.NewWallet().Addr }, "another address"},
		"ethereum, version": {func(m *auth.SIWS) { m.Version = "2" }, "Version"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do("POST", "/login", "", e.siwsBody(w, c.mod)), 400, "ValidationError", c.want)
		})
	}
	garbled := e.siwsBody(w, nil)
	garbled["message"] = "hello"
	wantError(t, e.do("POST", "/login", "", garbled), 400, "ValidationError", "sign-in message")
}

func TestLegacyLoginCanBeTurnedOff(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.DisableLegacyLogin = true })
	w := authtest.NewWallet()
	wantError(t, e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix())), 400, "ValidationError", "legacy login")
	if r := e.do("POST", "/login", "", e.siwsBody(w, nil)); r.status != 200 {
		t.Fatalf("SIWS with legacy off: %d %s", r.status, r.body)
	}
}

// chainEnv is a server whose job checks go to a fake RPC node and gateway.
type chainEnv struct {
	*env
	rpc     *solanatest.Server
	gw      *ipfstest.Gateway
	program solana.PublicKey
}

func newChainEnv(t *testing.T) *chainEnv { return newChainEnvWith(t, nil) }

// newChainEnvWith is newChainEnv with mod (if any) applied to the server's
// options after Jobs is set.
func newChainEnvWith(t *testing.T, mod func(*server.Options)) *chainEnv {
	rpc := solanatest.NewServer(t)
	gw := ipfstest.NewGateway(t)
	program := solana.MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM")
	chain, err := solana.NewClient(solana.Config{RPCURL: rpc.URL, JobsProgram: program, Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := ipfs.NewClient(ipfs.Config{Gateway: gw.URL, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *server.Options) {
		o.Jobs = &jobs.Verifier{Chain: chain, IPFS: docs, ValidFor: -1}
		if mod != nil {
			mod(o)
		}
	})
	return &chainEnv{env: e, rpc: rpc, gw: gw, program: program}
}

func pk(w authtest.Wallet) solana.PublicKey { return solana.MustPublicKeyFromBase58(w.Addr) }

// putRunning stores a job of project with its run account naming node.
func (c *chainEnv) putRunning(project, node authtest.Wallet, grants []string, timeout int64) solana.PublicKey {
	job, run := solanatest.NewKey(), solanatest.NewKey()
	doc := c.gw.AddJSON(c.t, map[string]any{"type": "container", "state": map[string]any{"nosana/secrets": grants}})
	c.rpc.PutJob(job, c.program, solana.Job{IPFSJob: doc, Project: pk(project), State: 0, Timeout: timeout, HasTimeout: timeout > 0})
	c.rpc.PutRun(run, c.program, solana.Run{Job: job, Node: pk(node), Time: c.now.Unix()})
	return job
}

func (c *chainEnv) jobLogin(w authtest.Wallet, job solana.PublicKey) resp {
	body := c.legacyBody(w, c.now.Unix())
	body["job"] = job.String()
	return c.do("POST", "/login", "", body)
}

func TestJobLoginRunningJob(t *testing.T) {
	c := newChainEnv(t)
	project, node, stranger := authtest.NewWallet(), authtest.NewWallet(), authtest.NewWallet()
	tp := c.login(project)
	c.do("POST", "/secrets", tp, `{"secrets":{"pipeline1-ssh-key":"ssh","other":"no","pipeline1":"prefix-no"}}`)
	job := c.putRunning(project, node, []string{"pipeline1-ssh-key", "not-stored"}, 600)

	c.rpc.ResetCalls()
	r := c.jobLogin(node, job)
	if r.status != 200 {
		t.Fatalf("node login: %d %s", r.status, r.body)
	}
	if n, m := c.rpc.Calls("getAccountInfo"), c.rpc.Calls("getProgramAccounts"); n != 1 || m != 1 {
		t.Errorf("login cost %d getAccountInfo, %d getProgramAccounts; want 1 and 1", n, m)
	}
	tok := r.json(t)["token"].(string)
	cl, _ := c.tokens.Verify(tok)
	if cl.ReadNamespace() != project.Addr || !cl.Running || cl.Job != job.String() {
		t.Errorf("claims %+v", cl)
	}
	// The token lives no longer than the job's timeout.
	if exp := cl.ExpiresAt.Time; exp.After(c.now.Add(600 * time.Second)) {
		t.Errorf("token expires %v, after the job's deadline", exp)
	}
	if r := c.do("GET", "/secrets", tok, nil); string(r.body) != `{"pipeline1-ssh-key":"ssh"}` {
		t.Errorf("job read: %d %s", r.status, r.body)
	}
	wantError(t, c.do("GET", "/secrets/other", tok, nil), 400, "ValidationError", "secret key other not in job")
	wantError(t, c.do("GET", "/secrets/pipeline1", tok, nil), 400, "ValidationError", "not in job")

	// Anyone else is refused, with the original's message and no token.
	r = c.jobLogin(stranger, job)
	wantError(t, r, 400, "ValidationError", "You did not claim this job:"+job.String())
	wantError(t, c.jobLogin(project, job), 400, "ValidationError", "You did not claim this job")

	// The job finishes: the node's token stops reading.
	c.rpc.PutJob(job, c.program, solana.Job{Project: pk(project), Node: pk(node), State: 2})
	wantError(t, c.do("GET", "/secrets/pipeline1-ssh-key", tok, nil), 403, "ForbiddenError", "")
	wantError(t, c.do("GET", "/secrets", tok, nil), 403, "ForbiddenError", "")
	// Its own namespace still takes results.
	if r := c.do("POST", "/secrets", tok, `{"secrets":{"result":"r"}}`); r.status != 200 {
		t.Errorf("node writes its result: %d %s", r.status, r.body)
	}
}

func TestJobLoginFinishedJob(t *testing.T) {
	c := newChainEnv(t)
	project, node := authtest.NewWallet(), authtest.NewWallet()
	job := solanatest.NewKey()
	tn := c.login(node)
	c.do("POST", "/secrets", tn, `{"secrets":{"`+job.String()+`/result":"out","private":"p"}}`)
	result := c.gw.AddJSON(t, map[string]any{"state": map[string]any{"nosana/secrets": []string{job.String() + "/result"}}})
	c.rpc.PutJob(job, c.program, solana.Job{IPFSResult: result, Project: pk(project), Node: pk(node), State: 2})

	r := c.jobLogin(project, job)
	if r.status != 200 {
		t.Fatalf("project login: %d %s", r.status, r.body)
	}
	tok := r.json(t)["token"].(string)
	if r := c.do("GET", "/secrets", tok, nil); string(r.body) != `{"`+job.String()+`/result":"out"}` {
		t.Errorf("project reads results: %s", r.body)
	}
	wantError(t, c.do("GET", "/secrets/private", tok, nil), 400, "ValidationError", "not in job")
	wantError(t, c.jobLogin(node, job), 400, "ValidationError", "You do not own this job:"+job.String())
}

// TestForgedJobAccount: an account owned by another program that names the
// intruder as project and a victim as node must not yield the victim's
// secrets (the original server accepted it).
func TestForgedJobAccount(t *testing.T) {
	c := newChainEnv(t)
	intruder, victim := authtest.NewWallet(), authtest.NewWallet()
	tv := c.login(victim)
	c.do("POST", "/secrets", tv, `{"secrets":{"victim-key":"crown jewels"}}`)
	job := solanatest.NewKey()
	result := c.gw.AddJSON(t, map[string]any{"secrets": []string{"victim-key"}})
	forger := solanatest.NewKey()
	c.rpc.PutJob(job, forger, solana.Job{IPFSResult: result, Project: pk(intruder), Node: pk(victim), State: 2})

	r := c.jobLogin(intruder, job)
	if r.status != 400 || strings.Contains(string(r.body), "token") {
		t.Fatalf("forged account: %d %s", r.status, r.body)
	}
	if c.gw.Total() != 0 {
		t.Error("the gateway was asked for a forged job's document")
	}
}

func TestJobLoginUnavailable(t *testing.T) {
	c := newChainEnv(t)
	node := authtest.NewWallet()
	job := c.putRunning(authtest.NewWallet(), node, []string{"k"}, 0)
	c.rpc.SetFailure(solanatest.FailHTTP500)
	wantError(t, c.jobLogin(node, job), 503, "InternalServerError", "could not check job "+job.String())
	c.rpc.SetFailure(solanatest.FailNone)
	// An RPC that would answer in an hour: the login answers 503 first,
	// and the RPC sees the server give up on the call.
	c.rpc.SetDelay(time.Hour)
	wantError(t, c.jobLogin(node, job), 503, "InternalServerError", "try again")
	eventuallyTrue(t, func() bool { return c.rpc.Abandoned() == 1 })
	wantError(t, c.jobLogin(node, solanatest.NewKey()), 503, "InternalServerError", "")
	c.rpc.SetDelay(0)
	wantError(t, c.jobLogin(node, solanatest.NewKey()), 400, "ValidationError", "")
	body := c.legacyBody(node, c.now.Unix())
	body["job"] = "not-a-job!"
	wantError(t, c.do("POST", "/login", "", body), 400, "ValidationError", "job")
}

// TestForgedSmallOrderLogin: the all-zero address (a point of order 4) can
// be "signed" for by anyone with R = identity, S = 0, for one timestamp in
// about four; such a login gets a 400, never a token.
func TestForgedSmallOrderLogin(t *testing.T) {
	e := newEnv(t)
	zero := make([]byte, 32)
	sig := make([]byte, 64)
	sig[0] = 1 // R = identity, S = 0
	ts := e.now.Unix()
	for !ed25519.Verify(zero, []byte(auth.LegacyPrefix+strconv.FormatInt(ts, 10)), sig) {
		if ts++; ts > e.now.Unix()+50 {
			t.Fatal("no forgeable timestamp in the window")
		}
	}
	body := map[string]any{"address": "11111111111111111111111111111111", "signature": base58.Encode(sig), "timestamp": ts}
	r := e.do("POST", "/login", "", body)
	wantError(t, r, 400, "ValidationError", "small-order")
	if strings.Contains(string(r.body), "token") {
		t.Fatalf("a token for a forged signature: %s", r.body)
	}
}

// TestLegacyReplayCountsOnce: one captured legacy body sent again and again
// inside its window counts once against its wallet's login limit, so the
// owner can still sign in; distinct signatures each count.
func TestLegacyReplayCountsOnce(t *testing.T) {
	e := newEnv(t, func(o *server.Options) {
		o.Limits = &server.Limits{Limiter: ratelimit.New(o.Store, ratelimit.Options{Now: o.Now}), LoginAddress: 3}
	})
	w := authtest.NewWallet()
	captured := e.legacyBody(w, e.now.Unix()-30)
	for i := 0; i < 10; i++ {
		if r := e.do("POST", "/login", "", captured); r.status != 200 {
			t.Fatalf("replay %d: %d %s", i, r.status, r.body)
		}
	}
	if r := e.do("POST", "/login", "", e.siwsBody(w, nil)); r.status != 200 {
		t.Fatalf("the owner's fresh sign-in after replays: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix())); r.status != 200 {
		t.Fatalf("a second legacy signature: %d %s", r.status, r.body)
	}
	wantError(t, e.do("POST", "/login", "", e.legacyBody(w, e.now.Unix()+1)), 429, "TooManyRequestsError", "wallet")
}

// TestJobLoginEmptyGrantList: a result document without "state" (the node
// writes such documents for Docker jobs) grants an empty list, and
// GET /secrets answers 200 {} as the original did; a "state" without a
// list is no grant list and stays 400 "no secrets in job".
func TestJobLoginEmptyGrantList(t *testing.T) {
	c := newChainEnv(t)
	project, node := authtest.NewWallet(), authtest.NewWallet()
	c.do("POST", "/secrets", c.login(node), `{"secrets":{"k":"v"}}`)
	for _, tc := range []struct {
		doc    map[string]any
		status int
		body   string
	}{
		{map[string]any{"finished-at": 1700000100, "results": []string{"nos/secret"}}, 200, `{}`},
		{map[string]any{"state": map[string]any{"nosana/job": "done"}}, 400, "no secrets in job"},
	} {
		job := solanatest.NewKey()
		result := c.gw.AddJSON(t, tc.doc)
		c.rpc.PutJob(job, c.program, solana.Job{IPFSResult: result, Project: pk(project), Node: pk(node), State: 2})
		r := c.jobLogin(project, job)
		if r.status != 200 {
			t.Fatalf("job login: %d %s", r.status, r.body)
		}
		tok := r.json(t)["token"].(string)
		got := c.do("GET", "/secrets", tok, nil)
		if got.status != tc.status || !strings.Contains(string(got.body), tc.body) {
			t.Errorf("%v: %d %s, want %d %s", tc.doc, got.status, got.body, tc.status, tc.body)
		}
	}
}

// eventuallyTrue waits for cond, which a goroutine of the server makes true
// shortly after the answer it follows.
func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, 10*time.Second, 5*time.Millisecond, cond)
}
