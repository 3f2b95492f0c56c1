package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

var (
	jobsProgram  = solana.MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM")
	otherProgram = solana.MustPublicKeyFromBase58("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")

	jobAddr  = key(0x10)
	runAddr  = key(0x20)
	project  = solana.MustPublicKeyFromBase58("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF") // vectors.json keypair
	node     = key(0x40)
	stranger = key(0x50)
	market   = key(0x60)
)

func key(b byte) solana.PublicKey {
	var k solana.PublicKey
	for i := range k {
		k[i] = b ^ byte(i*7)
	}
	return k
}

// examples are the job documents of testdata/vectors.json.
func examples(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Examples map[string]json.RawMessage `json:"job_json_examples"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Examples
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }
func newClock(start time.Time) *clock    { c := &clock{}; c.t.Store(start.UnixNano()); return c }
func (e *env) calls(method string) int   { return e.rpc.Calls(method) }
func (e *env) fetches() int              { return e.gw.Total() }
func (e *env) putJob(j solana.Job)       { e.rpc.PutJob(jobAddr, jobsProgram, j) }
func (e *env) putRun(r solana.Run)       { e.rpc.PutRun(runAddr, jobsProgram, r) }

// putRunning puts a running job: queued, with a run account naming node.
func (e *env) putRunning() {
	e.putJob(e.job(solana.JobQueued))
	e.putRun(e.run())
}

func (e *env) grant(caller solana.PublicKey) (jobs.Grant, error) {
	return e.v.Grant(context.Background(), jobAddr, caller)
}

type env struct {
	rpc   *solanatest.Server
	gw    *ipfstest.Gateway
	clock *clock
	v     *jobs.Verifier

	jobDigest, resultDigest [32]byte
}

type options struct {
	rpcTimeout, ipfsTimeout time.Duration
	rpcURL                  string
}

func newEnv(t *testing.T, o options) *env {
	t.Helper()
	e := &env{rpc: solanatest.NewServer(t), gw: ipfstest.NewGateway(t), clock: newClock(time.Unix(1700000000, 0))}
	if o.rpcTimeout == 0 {
		o.rpcTimeout = 2 * time.Second
	}
	if o.ipfsTimeout == 0 {
		o.ipfsTimeout = 2 * time.Second
	}
	if o.rpcURL == "" {
		o.rpcURL = e.rpc.URL
	}
	chain, err := solana.NewClient(solana.Config{RPCURL: o.rpcURL, JobsProgram: jobsProgram, Timeout: o.rpcTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := ipfs.NewClient(ipfs.Config{Gateway: e.gw.URL, Timeout: o.ipfsTimeout, MaxSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	e.v = &jobs.Verifier{Chain: chain, IPFS: docs, Now: e.clock.now}
	ex := examples(t)
	e.jobDigest = e.gw.Add(ex["job"])
	e.resultDigest = e.gw.Add(ex["result"])
	return e
}

// job is a job of the newer layout (with a timeout) in the given state.
// wantDeadline checks the deadline of the grant the node gets.
func (e *env) wantDeadline(t *testing.T, want time.Time) {
	t.Helper()
	g, err := e.grant(node)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Deadline.Equal(want) {
		t.Errorf("Deadline = %s, want %s", g.Deadline, want)
	}
}

func (e *env) job(state uint8) solana.Job {
	j := solana.Job{
		IPFSJob: e.jobDigest, Market: market, Node: node, Payer: project, Price: 1000,
		Project: project, State: state, Timeout: 3600, HasTimeout: true,
	}
	if state >= solana.JobDone {
		j.IPFSResult, j.TimeStart, j.TimeEnd = e.resultDigest, 1700000000, 1700000100
	}
	return j
}

func (e *env) run() solana.Run {
	return solana.Run{Job: jobAddr, Node: node, Payer: node, Time: 1700000050}
}

// wantOriginal is wantError for a refusal (BadRequest) whose message is
// the original server's, to the letter.
func wantOriginal(t *testing.T, err error, message string) {
	t.Helper()
	wantError(t, err, jobs.BadRequest, message)
	if err.Error() != message {
		t.Errorf("message %q is not the original's", err)
	}
}

func wantError(t *testing.T, err error, class jobs.Class, message string) *jobs.Error {
	t.Helper()
	var je *jobs.Error
	if !errors.As(err, &je) {
		t.Fatalf("error = %v (%T), want a *jobs.Error", err, err)
	}
	if je.Class != class {
		t.Fatalf("class = %v, want %v (error %q)", je.Class, class, je)
	}
	if !strings.Contains(je.Error(), message) {
		t.Errorf("message %q should say %q", je, message)
	}
	if je.HTTPStatus() != class.HTTPStatus() || jobs.HTTPStatus(err) != class.HTTPStatus() {
		t.Errorf("HTTPStatus = %d, want %d", je.HTTPStatus(), class.HTTPStatus())
	}
	return je
}

func TestGrantRunning(t *testing.T) {
	for _, state := range []uint8{solana.JobQueued, solana.JobRunning} {
		e := newEnv(t, options{})
		e.putJob(e.job(state))
		e.putRun(e.run())
		g, err := e.grant(node)
		if err != nil {
			t.Fatalf("state %d: %v", state, err)
		}
		want := jobs.Grant{
			Job: jobAddr.String(), UserAddress: project.String(), Secrets: []string{"pipeline1-ssh-key"},
			Running: true, Deadline: time.Unix(1700000050+3600, 0).UTC(),
		}
		if !equalGrant(g, want) {
			t.Errorf("state %d: Grant =\n%+v\nwant\n%+v", state, g, want)
		}
		if a, p, f := e.calls("getAccountInfo"), e.calls("getProgramAccounts"), e.fetches(); a != 1 || p != 1 || f != 1 {
			t.Errorf("cost: %d getAccountInfo, %d getProgramAccounts, %d fetches; want 1, 1, 1", a, p, f)
		}

		// A second login reads the chain again but the document from cache.
		if _, err := e.grant(node); err != nil {
			t.Fatal(err)
		}
		if a, p, f := e.calls("getAccountInfo"), e.calls("getProgramAccounts"), e.fetches(); a != 2 || p != 2 || f != 1 {
			t.Errorf("second login: %d getAccountInfo, %d getProgramAccounts, %d fetches; want 2, 2, 1", a, p, f)
		}
	}
}

func equalGrant(a, b jobs.Grant) bool {
	return a.Job == b.Job && a.UserAddress == b.UserAddress && slices.Equal(a.Secrets, b.Secrets) &&
		a.Secrets != nil && a.Running == b.Running && a.Deadline.Equal(b.Deadline)
}

func TestGrantRunningRefused(t *testing.T) {
	t.Run("wrong node", func(t *testing.T) {
		e := newEnv(t, options{})
		e.putRunning()
		for _, caller := range []solana.PublicKey{stranger, project} {
			_, err := e.grant(caller)
			wantOriginal(t, err, "You did not claim this job:"+jobAddr.String())
		}
		if f := e.fetches(); f != 0 {
			t.Errorf("fetched %d documents for a refused caller", f)
		}
	})
	t.Run("no run account", func(t *testing.T) {
		e := newEnv(t, options{})
		e.putJob(e.job(solana.JobQueued))
		_, err := e.grant(node)
		je := wantError(t, err, jobs.BadRequest, "no node has claimed it")
		if !strings.Contains(je.Error(), jobAddr.String()) || !errors.Is(err, solana.ErrNotFound) {
			t.Errorf("error %q should name the job and wrap solana.ErrNotFound", je)
		}
		if f := e.fetches(); f != 0 {
			t.Errorf("fetched %d documents", f)
		}
	})
	t.Run("run account of another job", func(t *testing.T) {
		e := newEnv(t, options{})
		e.putJob(e.job(solana.JobQueued))
		e.rpc.PutRun(runAddr, jobsProgram, solana.Run{Job: key(0x99), Node: node})
		_, err := e.grant(node)
		wantError(t, err, jobs.BadRequest, "no node has claimed it")
	})
}

func TestGrantFinished(t *testing.T) {
	for _, state := range []uint8{solana.JobDone, solana.JobStopped} {
		e := newEnv(t, options{})
		e.putJob(e.job(state))
		g, err := e.grant(project)
		if err != nil {
			t.Fatalf("state %d: %v", state, err)
		}
		want := jobs.Grant{Job: jobAddr.String(), UserAddress: node.String(), Secrets: []string{"<job address>/result"}}
		if !equalGrant(g, want) {
			t.Errorf("state %d: Grant = %+v, want %+v", state, g, want)
		}
		if a, p, f := e.calls("getAccountInfo"), e.calls("getProgramAccounts"), e.fetches(); a != 1 || p != 0 || f != 1 {
			t.Errorf("cost: %d getAccountInfo, %d getProgramAccounts, %d fetches; want 1, 0, 1", a, p, f)
		}

		for _, caller := range []solana.PublicKey{stranger, node} {
			_, err := e.grant(caller)
			wantOriginal(t, err, "You do not own this job:"+jobAddr.String())
		}
	}
}

func TestGrantStoppedWithoutResult(t *testing.T) {
	e := newEnv(t, options{})
	j := e.job(solana.JobStopped)
	j.IPFSResult = [32]byte{}
	e.putJob(j)
	g, err := e.grant(project)
	if err != nil {
		t.Fatal(err)
	}
	if g.Secrets == nil || len(g.Secrets) != 0 || e.fetches() != 0 {
		t.Errorf("Grant = %+v after %d fetches; want no secrets and no fetch", g, e.fetches())
	}
}

func TestGrantUnknownJob(t *testing.T) {
	e := newEnv(t, options{})
	_, err := e.grant(node)
	je := wantError(t, err, jobs.BadRequest, jobAddr.String())
	if !errors.Is(err, solana.ErrNotFound) || !strings.Contains(je.Error(), "not found") {
		t.Errorf("error %q should say the account was not found", je)
	}
}

func TestParseJob(t *testing.T) {
	if pk, err := jobs.ParseJob(jobAddr.String()); err != nil || !pk.Equals(jobAddr) {
		t.Fatalf("ParseJob(%s) = %s, %v", jobAddr, pk, err)
	}
	for _, s := range []string{
		"", "abc", "0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl", // not base58
		" " + jobAddr.String(), jobAddr.String() + "\n", // no trimming
		"1111111111111111111111111111111", // 31 bytes
		strings.Repeat("z", 1000),         // long
		"../../secrets", "Qm%2F",
	} {
		_, err := jobs.ParseJob(s)
		je := wantError(t, err, jobs.BadRequest, "invalid job address")
		if len(je.Error()) > 200 {
			t.Errorf("message of %d bytes for a long input", len(je.Error()))
		}
	}
}

// The attack the original server allowed: an account owned by another
// program claims that the intruder is the project and the victim the node.
func TestForgedAccounts(t *testing.T) {
	victim, intruder := node, stranger
	forgedDocs := func(e *env) solana.Job {
		return solana.Job{
			IPFSJob: e.jobDigest, IPFSResult: e.resultDigest, Market: market,
			Node: victim, Payer: intruder, Project: intruder, State: solana.JobDone,
			Timeout: 3600, HasTimeout: true,
		}
	}

	t.Run("finished job owned by another program", func(t *testing.T) {
		e := newEnv(t, options{})
		e.rpc.PutJob(jobAddr, otherProgram, forgedDocs(e))
		_, err := e.grant(intruder)
		je := wantError(t, err, jobs.BadRequest, "not by the jobs program")
		if !strings.Contains(je.Error(), jobAddr.String()) || !errors.Is(err, solana.ErrInvalidAccount) {
			t.Errorf("error %q should name the job and wrap ErrInvalidAccount", je)
		}
		if f, p := e.fetches(), e.calls("getProgramAccounts"); f != 0 || p != 0 {
			t.Errorf("forged account led to %d fetches and %d run lookups", f, p)
		}
	})

	t.Run("running job and run account owned by another program", func(t *testing.T) {
		e := newEnv(t, options{})
		j := forgedDocs(e)
		j.State = solana.JobQueued
		e.rpc.PutJob(jobAddr, otherProgram, j)
		e.rpc.PutRun(runAddr, otherProgram, solana.Run{Job: jobAddr, Node: intruder})
		_, err := e.grant(intruder)
		wantError(t, err, jobs.BadRequest, "not by the jobs program")
	})

	t.Run("genuine job, forged run account", func(t *testing.T) {
		e := newEnv(t, options{})
		e.putJob(e.job(solana.JobQueued))
		e.rpc.PutRun(runAddr, otherProgram, solana.Run{Job: jobAddr, Node: intruder, Time: 1})
		_, err := e.grant(intruder)
		wantError(t, err, jobs.BadRequest, "no node has claimed it")

		// Even through an RPC node that ignores owner and filters.
		e.rpc.SetIgnoreFilters(true)
		_, err = e.grant(intruder)
		wantError(t, err, jobs.BadRequest, "no node has claimed it")
		if f := e.fetches(); f != 0 {
			t.Errorf("forged run account led to %d fetches", f)
		}
	})

	t.Run("owned by the system program", func(t *testing.T) {
		e := newEnv(t, options{})
		e.rpc.PutJob(jobAddr, solanatest.SystemProgram, forgedDocs(e))
		_, err := e.grant(intruder)
		wantError(t, err, jobs.BadRequest, "not by the jobs program")
	})
}

func TestGrantBadAccountData(t *testing.T) {
	t.Run("wrong discriminator", func(t *testing.T) {
		e := newEnv(t, options{})
		// A run account (owned by the jobs program) given as the job.
		e.rpc.PutRun(jobAddr, jobsProgram, solana.Run{Job: jobAddr, Node: stranger})
		_, err := e.grant(stranger)
		wantError(t, err, jobs.BadRequest, "not a JobAccount")
	})
	t.Run("market discriminator", func(t *testing.T) {
		e := newEnv(t, options{})
		data := solana.EncodeJob(e.job(solana.JobDone))
		copy(data, []byte{0xc9, 0x4e, 0xbb, 0xe1, 0xf0, 0xc6, 0xc9, 0xfb})
		e.rpc.SetAccount(jobAddr, solanatest.Account{Owner: jobsProgram, Lamports: 1, Data: data})
		_, err := e.grant(project)
		wantError(t, err, jobs.BadRequest, "not a JobAccount")
	})
	t.Run("short data", func(t *testing.T) {
		e := newEnv(t, options{})
		data := solana.EncodeJob(e.job(solana.JobDone))[:224]
		e.rpc.SetAccount(jobAddr, solanatest.Account{Owner: jobsProgram, Lamports: 1, Data: data})
		_, err := e.grant(project)
		wantError(t, err, jobs.BadRequest, "224 bytes")
	})
}

func TestGrantLayouts(t *testing.T) {
	t.Run("old 225-byte account", func(t *testing.T) {
		e := newEnv(t, options{})
		j := e.job(solana.JobQueued)
		j.HasTimeout, j.Timeout = false, 0
		e.putJob(j)
		e.putRun(e.run())
		g, err := e.grant(node)
		if err != nil {
			t.Fatal(err)
		}
		if !g.Deadline.IsZero() || !slices.Equal(g.Secrets, []string{"pipeline1-ssh-key"}) {
			t.Errorf("Grant = %+v, want no deadline", g)
		}
	})
	t.Run("old program sets timeStart at claim", func(t *testing.T) {
		e := newEnv(t, options{})
		j := e.job(solana.JobRunning)
		j.TimeStart = 1700000010
		e.putJob(j)
		r := e.run()
		r.Time = 0
		e.putRun(r)
		e.wantDeadline(t, time.Unix(1700000010+3600, 0))
	})
	t.Run("new 233-byte account with trailing bytes", func(t *testing.T) {
		e := newEnv(t, options{})
		data := append(solana.EncodeJob(e.job(solana.JobQueued)), make([]byte, 40)...)
		e.rpc.SetAccount(jobAddr, solanatest.Account{Owner: jobsProgram, Lamports: 1, Data: data})
		e.putRun(e.run())
		e.wantDeadline(t, time.Unix(1700000050+3600, 0))
	})
	t.Run("zero timeout", func(t *testing.T) {
		e := newEnv(t, options{})
		j := e.job(solana.JobQueued)
		j.Timeout = 0
		e.putJob(j)
		e.putRun(e.run())
		if g, err := e.grant(node); err != nil || !g.Deadline.IsZero() {
			t.Errorf("Grant = %+v, %v; want no deadline", g, err)
		}
	})
}

func TestGrantLists(t *testing.T) {
	ex := examples(t)
	for _, tc := range []struct {
		name   string
		doc    []byte
		want   []string
		noList bool
	}{
		{"state form", ex["job"], []string{"pipeline1-ssh-key"}, false},
		{"top-level form", ex["job_top_level_form"], []string{"pipeline1-ssh-key"}, false},
		{"no state: empty list", []byte(`{"type":"Github","url":"https://github.com/nosana-ci/secrets.git"}`), []string{}, false},
		{"null state: empty list", []byte(`{"state":null}`), []string{}, false},
		{"state without a list", []byte(`{"state":{"nosana/job":"x"}}`), []string{}, true},
		{"state not an object", []byte(`{"state":"running"}`), []string{}, true},
		{"empty state list", []byte(`{"state":{"nosana/secrets":[]}}`), []string{}, false},
		{"non-string entries", []byte(`{"state":{"nosana/secrets":["a",7,null,{"b":1},"c"]}}`), []string{"a", "c"}, false},
		{"state entry not a list", []byte(`{"state":{"nosana/secrets":"a"},"secrets":["b"]}`), []string{"b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{})
			j := e.job(solana.JobQueued)
			j.IPFSJob = e.gw.Add(tc.doc)
			e.putJob(j)
			e.putRun(e.run())
			g, err := e.grant(node)
			if err != nil {
				t.Fatal(err)
			}
			if g.Secrets == nil || !slices.Equal(g.Secrets, tc.want) {
				t.Errorf("Secrets = %#v, want %#v", g.Secrets, tc.want)
			}
			if g.NoList != tc.noList {
				t.Errorf("NoList = %v, want %v", g.NoList, tc.noList)
			}
		})
	}
}

func TestGrantGatewayFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resp    ipfstest.Response
		class   jobs.Class
		message string
	}{
		{"oversize", ipfstest.Response{Body: []byte(`{"x":"` + strings.Repeat("a", 8<<10) + `"}`)}, jobs.BadRequest, "larger than 4 KiB"},
		{"oversize without length", ipfstest.Response{Body: []byte(`{"x":"`), Endless: true}, jobs.BadRequest, "larger than 4 KiB"},
		{"not JSON", ipfstest.Response{Body: []byte("hello"), ContentType: "text/plain"}, jobs.BadRequest, "not a JSON object"},
		{"JSON array", ipfstest.Response{Body: []byte(`["pipeline1-ssh-key"]`)}, jobs.BadRequest, "found an array"},
		{"404", ipfstest.Response{Status: 404}, jobs.BadRequest, "not found (gateway answered HTTP 404)"},
		{"500", ipfstest.Response{Status: 500}, jobs.Unavailable, "HTTP status 500"},
		{"slow", ipfstest.Response{Body: []byte(`{}`), Delay: 10 * time.Second}, jobs.Unavailable, "no answer within 200ms"},
		// The chain names the real document; the gateway answers another.
		{"swapped", ipfstest.Response{Body: []byte(`{"secrets":["pipeline1-ssh-key","prod-db"]}`)}, jobs.BadRequest, "does not match the digest on chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{ipfsTimeout: 200 * time.Millisecond})
			if tc.name == "swapped" {
				e.gw.Set(ipfs.CID(e.jobDigest), tc.resp)
			} else {
				e.jobDigest = e.gw.AddResponse(tc.resp) // served under its own CID
			}
			e.putRunning()
			start := time.Now()
			_, err := e.grant(node)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			je := wantError(t, err, tc.class, tc.message)
			if !strings.Contains(je.Error(), jobAddr.String()) || !strings.Contains(je.Error(), "job document") {
				t.Errorf("message %q should name the job and the document", je)
			}
		})
	}

	t.Run("missing result document", func(t *testing.T) {
		e := newEnv(t, options{})
		j := e.job(solana.JobDone)
		j.IPFSResult = [32]byte{1, 2, 3}
		e.putJob(j)
		_, err := e.grant(project)
		wantError(t, err, jobs.BadRequest, "cannot read its result document")
	})
}

func TestGrantRPCFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure solanatest.Failure
		message string
	}{
		{"HTTP 500", solanatest.FailHTTP500, "HTTP status 500"},
		{"connection closed", solanatest.FailClose, "unavailable"},
		{"JSON-RPC internal error", solanatest.FailInternal, "-32603"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{})
			e.putRunning()
			e.rpc.SetFailure(tc.failure)
			_, err := e.grant(node)
			je := wantError(t, err, jobs.Unavailable, tc.message)
			if !strings.Contains(je.Error(), jobAddr.String()) || !errors.Is(err, solana.ErrUnavailable) {
				t.Errorf("error %q should name the job and wrap solana.ErrUnavailable", je)
			}
		})
	}

	t.Run("run lookup fails", func(t *testing.T) {
		e := newEnv(t, options{})
		e.putRunning()
		// Fail only getProgramAccounts: answer getAccountInfo, then break.
		if _, err := e.v.Chain.Job(context.Background(), jobAddr); err != nil {
			t.Fatal(err)
		}
		chain := &failingRuns{Chain: e.v.Chain}
		v := &jobs.Verifier{Chain: chain, IPFS: e.v.IPFS}
		_, err := v.Grant(context.Background(), jobAddr, node)
		wantError(t, err, jobs.Unavailable, "boom")
	})

	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(nil)
		dead.Close()
		e := newEnv(t, options{rpcURL: dead.URL})
		_, err := e.grant(node)
		wantError(t, err, jobs.Unavailable, "connection refused")
	})

	t.Run("slow", func(t *testing.T) {
		e := newEnv(t, options{rpcTimeout: 200 * time.Millisecond})
		e.putJob(e.job(solana.JobQueued))
		e.rpc.SetDelay(10 * time.Second)
		start := time.Now()
		_, err := e.grant(node)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s, want about 200ms", d)
		}
		wantError(t, err, jobs.Unavailable, "no answer within 200ms")
	})
}

type failingRuns struct{ solana.Chain }

func (f *failingRuns) RunOf(context.Context, solana.PublicKey) (solana.Run, error) {
	return solana.Run{}, errors.New("boom")
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		class    jobs.Class
		status   int
		sentinel error
	}{
		{jobs.BadRequest, http.StatusBadRequest, jobs.ErrBadRequest},
		{jobs.Ended, http.StatusForbidden, jobs.ErrEnded},
		{jobs.Unavailable, http.StatusServiceUnavailable, jobs.ErrUnavailable},
	} {
		err := error(&jobs.Error{Class: tc.class, Message: "m"})
		if got := jobs.HTTPStatus(err); got != tc.status {
			t.Errorf("%v: HTTPStatus = %d, want %d", tc.class, got, tc.status)
		}
		for _, s := range []error{jobs.ErrBadRequest, jobs.ErrEnded, jobs.ErrUnavailable} {
			if errors.Is(err, s) != (s == tc.sentinel) {
				t.Errorf("%v: errors.Is(%v) = %v", tc.class, s, !(s == tc.sentinel))
			}
		}
	}
	if got := jobs.HTTPStatus(errors.New("other")); got != http.StatusServiceUnavailable {
		t.Errorf("HTTPStatus(foreign error) = %d, want 503", got)
	}
	if got := jobs.HTTPStatus(nil); got != http.StatusOK {
		t.Errorf("HTTPStatus(nil) = %d, want 200", got)
	}
}

func TestNotConfigured(t *testing.T) {
	var v jobs.Verifier
	_, err := v.Grant(context.Background(), jobAddr, node)
	wantError(t, err, jobs.Unavailable, "not configured")
	wantError(t, v.StillValid(context.Background(), jobAddr, node), jobs.Unavailable, "not configured")
}

func TestStillValid(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, options{})
	e.putRunning()

	if err := e.v.StillValid(ctx, jobAddr, node); err != nil {
		t.Fatal(err)
	}
	if a, p := e.calls("getAccountInfo"), e.calls("getProgramAccounts"); a != 1 || p != 1 {
		t.Errorf("first check: %d getAccountInfo, %d getProgramAccounts; want 1, 1", a, p)
	}
	e.clock.advance(14 * time.Second)
	if err := e.v.StillValid(ctx, jobAddr, node); err != nil {
		t.Fatal(err)
	}
	if a := e.calls("getAccountInfo"); a != 1 {
		t.Errorf("within 15 s: %d getAccountInfo, want 1 (cached)", a)
	}

	// Another node is refused, and it does not poison the first node's entry.
	wantError(t, e.v.StillValid(ctx, jobAddr, stranger), jobs.Ended, "runs on another node")

	// The job is reassigned; the cached answer lasts until it expires.
	e.rpc.PutRun(runAddr, jobsProgram, solana.Run{Job: jobAddr, Node: stranger, Time: 1700000060})
	if err := e.v.StillValid(ctx, jobAddr, node); err != nil {
		t.Fatalf("cached answer: %v", err)
	}
	e.clock.advance(2 * time.Second)
	wantError(t, e.v.StillValid(ctx, jobAddr, node), jobs.Ended, "job "+jobAddr.String()+" runs on another node")

	// The refusal is cached too.
	before := e.calls("getAccountInfo")
	wantError(t, e.v.StillValid(ctx, jobAddr, node), jobs.Ended, "another node")
	if a := e.calls("getAccountInfo"); a != before {
		t.Errorf("refusal not cached: %d more calls", a-before)
	}
}

func TestStillValidEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		change  func(e *env)
		message string
	}{
		{"job done", func(e *env) { e.putJob(e.job(solana.JobDone)) }, "has ended (done)"},
		{"job stopped", func(e *env) { e.putJob(e.job(solana.JobStopped)) }, "has ended (stopped)"},
		{"run account closed", func(e *env) { e.rpc.RemoveAccount(runAddr) }, "no longer running"},
		{"job account closed", func(e *env) { e.rpc.RemoveAccount(jobAddr) }, "its account is gone"},
		{"job account taken over", func(e *env) { e.rpc.PutJob(jobAddr, otherProgram, e.job(solana.JobQueued)) }, "its account is gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{})
			e.putRunning()
			if err := e.v.StillValid(ctx, jobAddr, node); err != nil {
				t.Fatal(err)
			}
			tc.change(e)
			e.clock.advance(16 * time.Second)
			err := e.v.StillValid(ctx, jobAddr, node)
			wantError(t, err, jobs.Ended, tc.message)
			if !strings.Contains(err.Error(), jobAddr.String()) {
				t.Errorf("message %q does not name the job", err)
			}
		})
	}
}

func TestStillValidUnavailable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, options{})
	e.putRunning()
	e.rpc.SetFailure(solanatest.FailHTTP500)
	wantError(t, e.v.StillValid(ctx, jobAddr, node), jobs.Unavailable, "HTTP status 500")
	// Not cached: once the node is back the answer is fresh.
	e.rpc.SetFailure(solanatest.FailNone)
	if err := e.v.StillValid(ctx, jobAddr, node); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestStillValidAfterGrant(t *testing.T) {
	e := newEnv(t, options{})
	e.putRunning()
	if _, err := e.grant(node); err != nil {
		t.Fatal(err)
	}
	if err := e.v.StillValid(context.Background(), jobAddr, node); err != nil {
		t.Fatal(err)
	}
	if a := e.calls("getAccountInfo"); a != 1 {
		t.Errorf("%d getAccountInfo after login + check, want 1", a)
	}
}

func TestStillValidNoCache(t *testing.T) {
	e := newEnv(t, options{})
	e.v.ValidFor = -1
	e.putRunning()
	for range 3 {
		if err := e.v.StillValid(context.Background(), jobAddr, node); err != nil {
			t.Fatal(err)
		}
	}
	if a := e.calls("getAccountInfo"); a != 3 {
		t.Errorf("%d getAccountInfo, want 3", a)
	}
}

func TestStillValidCoalesces(t *testing.T) {
	e := newEnv(t, options{})
	e.putRunning()
	e.rpc.SetDelay(100 * time.Millisecond)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := e.v.StillValid(context.Background(), jobAddr, node); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a := e.calls("getAccountInfo"); a != 1 {
		t.Errorf("%d getAccountInfo for 10 concurrent checks, want 1", a)
	}
}

func TestStillValidCallerGivesUp(t *testing.T) {
	e := newEnv(t, options{})
	e.putRunning()
	e.rpc.SetDelay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	wantError(t, e.v.StillValid(ctx, jobAddr, node), jobs.Unavailable, "gave up")
}

// TestGrantRefusesSmallOrderKeys: a job whose run account names the
// all-zero key (a point of order 4, for which signatures can be forged) as
// node, or whose project is such a key, grants nothing, even to a caller
// that "is" that key.
func TestGrantRefusesSmallOrderKeys(t *testing.T) {
	var zero solana.PublicKey
	identity := solana.PublicKey{1}
	for _, weak := range []solana.PublicKey{zero, identity} {
		e := newEnv(t, options{})
		e.putJob(e.job(solana.JobQueued))
		r := e.run()
		r.Node = weak
		e.putRun(r)
		_, err := e.grant(weak)
		wantError(t, err, jobs.BadRequest, "small-order key as its node")

		e = newEnv(t, options{})
		j := e.job(solana.JobDone)
		j.Project = weak
		e.putJob(j)
		_, err = e.grant(weak)
		wantError(t, err, jobs.BadRequest, "small-order key as its project")
	}
}
