package solana_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

var (
	jobsProgram  = solana.MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM")
	otherProgram = solana.MustPublicKeyFromBase58("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
)

func newClient(t *testing.T, url string, timeout time.Duration) *solana.Client {
	t.Helper()
	c, err := solana.NewClient(solana.Config{RPCURL: url, JobsProgram: jobsProgram, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func setup(t *testing.T) (*solanatest.Server, *solana.Client) {
	t.Helper()
	srv := solanatest.NewServer(t)
	return srv, newClient(t, srv.URL, 2*time.Second)
}

func TestClientJob(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	addr := pk(0x10)
	for _, want := range []solana.Job{sampleJob(false), sampleJob(true)} {
		srv.PutJob(addr, jobsProgram, want)
		got, err := c.Job(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Job = %+v, want %+v", got, want)
		}
	}

	// The request is what a node expects: base64, confirmed, one call.
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Method != "getAccountInfo" {
		t.Fatalf("requests = %+v", reqs)
	}
	var params []json.RawMessage
	if err := json.Unmarshal(reqs[0].Params, &params); err != nil || len(params) != 2 {
		t.Fatalf("params %s: %v", reqs[0].Params, err)
	}
	var key string
	var cfg struct{ Encoding, Commitment string }
	json.Unmarshal(params[0], &key)
	json.Unmarshal(params[1], &cfg)
	if key != addr.String() || cfg.Encoding != "base64" || cfg.Commitment != "confirmed" {
		t.Errorf("getAccountInfo params = %s", reqs[0].Params)
	}
}

func TestClientJobRefuses(t *testing.T) {
	srv, c := setup(t)
	addr := pk(0x10)
	job := sampleJob(true)
	for _, tc := range []struct {
		name    string
		put     func()
		want    error
		message string
	}{
		{"missing account", func() { srv.RemoveAccount(addr) }, solana.ErrNotFound, "not found"},
		{"owned by another program", func() { srv.PutJob(addr, otherProgram, job) }, solana.ErrInvalidAccount, "owned by " + otherProgram.String()},
		{"owned by the system program", func() { srv.PutJob(addr, solanatest.SystemProgram, job) }, solana.ErrInvalidAccount, "not by the jobs program"},
		{"run account at a job address", func() { srv.PutRun(addr, jobsProgram, solana.Run{Job: addr}) }, solana.ErrInvalidAccount, "not a JobAccount"},
		{"short data", func() {
			srv.SetAccount(addr, solanatest.Account{Owner: jobsProgram, Lamports: 1, Data: solana.EncodeJob(job)[:200]})
		}, solana.ErrInvalidAccount, "200 bytes"},
		{"no data", func() { srv.SetAccount(addr, solanatest.Account{Owner: jobsProgram, Lamports: 1}) }, solana.ErrInvalidAccount, "0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.put()
			_, err := c.Job(context.Background(), addr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if errors.Is(err, solana.ErrUnavailable) {
				t.Fatalf("error %v also claims the RPC is unavailable", err)
			}
			if msg := err.Error(); !strings.Contains(msg, addr.String()) || !strings.Contains(msg, tc.message) {
				t.Errorf("message %q should name the job and say %q", msg, tc.message)
			}
		})
	}
}

func TestClientRunOf(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	job, other := pk(0x10), pk(0x11)
	run := solana.Run{Job: job, Node: pk(0x40), Payer: pk(0x50), Time: 1700000000}

	if _, err := c.RunOf(ctx, job); !errors.Is(err, solana.ErrNotFound) || !strings.Contains(err.Error(), job.String()) {
		t.Fatalf("no run account: error = %v, want ErrNotFound naming the job", err)
	}

	srv.PutJob(job, jobsProgram, sampleJob(true))
	srv.PutRun(pk(0x80), jobsProgram, solana.Run{Job: other, Node: pk(0x41)}) // another job's run
	srv.PutRun(pk(0x81), otherProgram, solana.Run{Job: job, Node: pk(0x42)})  // forged: wrong owner
	srv.PutRun(pk(0x82), jobsProgram, run)
	got, err := c.RunOf(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if got != run {
		t.Errorf("RunOf = %+v, want %+v", got, run)
	}

	// The request filters as SPEC §2 says.
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "getProgramAccounts" {
		t.Fatalf("last request %s", last.Method)
	}
	var params []json.RawMessage
	json.Unmarshal(last.Params, &params)
	var program string
	var cfg struct {
		Encoding, Commitment string
		Filters              []struct {
			Memcmp struct {
				Offset int
				Bytes  string
			}
		}
	}
	json.Unmarshal(params[0], &program)
	json.Unmarshal(params[1], &cfg)
	if program != jobsProgram.String() || cfg.Encoding != "base64" || cfg.Commitment != "confirmed" || len(cfg.Filters) != 2 ||
		cfg.Filters[0].Memcmp.Offset != 0 || cfg.Filters[0].Memcmp.Bytes != "ZZTu8o6YwNM" ||
		cfg.Filters[1].Memcmp.Offset != 8 || cfg.Filters[1].Memcmp.Bytes != job.String() {
		t.Errorf("getProgramAccounts params = %s", last.Params)
	}
}

func TestClientRunOfSeveral(t *testing.T) {
	srv, c := setup(t)
	job := pk(0x10)
	older := solana.Run{Job: job, Node: pk(0x40), Time: 100}
	newer := solana.Run{Job: job, Node: pk(0x41), Time: 200}
	tieLow := solana.Run{Job: job, Node: pk(0x42), Time: 300}
	tieHigh := solana.Run{Job: job, Node: pk(0x43), Time: 300}

	srv.PutRun(pk(0x01), jobsProgram, older)
	srv.PutRun(pk(0x02), jobsProgram, newer)
	if got, err := c.RunOf(context.Background(), job); err != nil || got != newer {
		t.Fatalf("RunOf = %+v, %v; want the latest run", got, err)
	}
	srv.PutRun(pk(0x90), jobsProgram, tieHigh)
	srv.PutRun(pk(0x70), jobsProgram, tieLow)
	for range 3 {
		if got, err := c.RunOf(context.Background(), job); err != nil || got != tieLow {
			t.Fatalf("RunOf = %+v, %v; want the tie broken by the lowest address", got, err)
		}
	}
}

// A node that ignores filters (or lies) must not smuggle in foreign accounts.
func TestClientRunOfHostileNode(t *testing.T) {
	srv, c := setup(t)
	job := pk(0x10)
	srv.SetIgnoreFilters(true)
	srv.PutRun(pk(0x01), otherProgram, solana.Run{Job: job, Node: pk(0x66), Time: 999})
	srv.PutRun(pk(0x02), jobsProgram, solana.Run{Job: pk(0x11), Node: pk(0x67), Time: 999})
	srv.PutJob(pk(0x03), jobsProgram, sampleJob(true))
	if _, err := c.RunOf(context.Background(), job); !errors.Is(err, solana.ErrNotFound) {
		t.Fatalf("RunOf error = %v, want ErrNotFound", err)
	}
	want := solana.Run{Job: job, Node: pk(0x40), Time: 1}
	srv.PutRun(pk(0x04), jobsProgram, want)
	if got, err := c.RunOf(context.Background(), job); err != nil || got != want {
		t.Fatalf("RunOf = %+v, %v; want %+v", got, err, want)
	}
}

func TestClientUnavailable(t *testing.T) {
	job := pk(0x10)
	for _, tc := range []struct {
		name    string
		failure solanatest.Failure
		message string
	}{
		{"HTTP 500", solanatest.FailHTTP500, "HTTP status 500"},
		{"connection closed", solanatest.FailClose, "EOF"},
		{"JSON-RPC internal error", solanatest.FailInternal, "-32603"},
		{"rate limited", solanatest.FailRateLimit, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := setup(t)
			srv.PutJob(job, jobsProgram, sampleJob(true))
			srv.SetFailure(tc.failure)
			_, err := c.Job(context.Background(), job)
			checkUnavailable(t, err, job, tc.message)
			_, err = c.RunOf(context.Background(), job)
			checkUnavailable(t, err, job, tc.message)
		})
	}
}

func checkUnavailable(t *testing.T, err error, job solana.PublicKey, message string) {
	t.Helper()
	t.Logf("error: %v", err)
	if !errors.Is(err, solana.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, solana.ErrNotFound) || errors.Is(err, solana.ErrInvalidAccount) {
		t.Fatalf("error %v is also a caller error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, job.String()) || !strings.Contains(msg, message) {
		t.Errorf("message %q should name the job and say %q", msg, message)
	}
}

func TestClientUnreachable(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL + "/rpc?api-key=SECRET"
	dead.Close()
	c := newClient(t, url, 2*time.Second)
	_, err := c.Job(context.Background(), pk(1))
	checkUnavailable(t, err, pk(1), "connection refused")
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q leaks the RPC URL", err)
	}
}

func TestClientSlowNode(t *testing.T) {
	srv := solanatest.NewServer(t)
	srv.PutJob(pk(1), jobsProgram, sampleJob(true))
	srv.SetDelay(10 * time.Second)
	c := newClient(t, srv.URL+"/?api-key=SECRET", 200*time.Millisecond)
	start := time.Now()
	_, err := c.Job(context.Background(), pk(1))
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("gave up after %s, want about 200ms", elapsed)
	}
	checkUnavailable(t, err, pk(1), "no answer within 200ms")
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q leaks the RPC URL", err)
	}
	_, err = c.RunOf(context.Background(), pk(1))
	checkUnavailable(t, err, pk(1), "no answer within 200ms")
}

func TestClientCallerCancel(t *testing.T) {
	srv, c := setup(t)
	srv.SetDelay(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Job(ctx, pk(1))
	if !errors.Is(err, solana.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, cfg := range []solana.Config{
		{RPCURL: "", JobsProgram: jobsProgram},
		{RPCURL: "ftp://example.org", JobsProgram: jobsProgram},
		{RPCURL: "http://", JobsProgram: jobsProgram},
		{RPCURL: "http://127.0.0.1:1"},
	} {
		if _, err := solana.NewClient(cfg, nil); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}

func TestResolve(t *testing.T) {
	devnetProgram := solana.MustPublicKeyFromBase58("nosJTmGQxvwXy23vng5UjkTbfv91Bzf9jEuro78dAGR")
	for _, tc := range []struct {
		network, rpc, program string
		want                  solana.Config
	}{
		{"", "", "", solana.Config{Network: "mainnet", RPCURL: "https://api.mainnet-beta.solana.com", JobsProgram: jobsProgram, Timeout: solana.DefaultTimeout}},
		{"mainnet", "", "", solana.Config{Network: "mainnet", RPCURL: "https://api.mainnet-beta.solana.com", JobsProgram: jobsProgram, Timeout: solana.DefaultTimeout}},
		{" DevNet ", "", "", solana.Config{Network: "devnet", RPCURL: "https://api.devnet.solana.com", JobsProgram: devnetProgram, Timeout: solana.DefaultTimeout}},
		{"devnet", "http://127.0.0.1:8899", "", solana.Config{Network: "devnet", RPCURL: "http://127.0.0.1:8899", JobsProgram: devnetProgram, Timeout: solana.DefaultTimeout}},
		{"mainnet", "", devnetProgram.String(), solana.Config{Network: "mainnet", RPCURL: "https://api.mainnet-beta.solana.com", JobsProgram: devnetProgram, Timeout: solana.DefaultTimeout}},
	} {
		got, err := solana.Resolve(tc.network, tc.rpc, tc.program)
		if err != nil {
			t.Errorf("Resolve(%q, %q, %q): %v", tc.network, tc.rpc, tc.program, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Resolve(%q, %q, %q) = %+v, want %+v", tc.network, tc.rpc, tc.program, got, tc.want)
		}
	}

	for _, tc := range []struct{ network, rpc, program, message string }{
		{"testnet", "", "", `unknown Solana network "testnet"`},
		{"mainnet-beta", "", "", "unknown Solana network"},
		{"", "", "not-base58!", "invalid jobs program id"},
		{"", "", base58.Encode([]byte("short")), "invalid jobs program id"},
		{"", "ws://127.0.0.1:8900", "", `scheme "ws"`},
		{"", "api.mainnet-beta.solana.com", "", "invalid Solana RPC URL"},
		{"", "https://user:pw@[::1", "", "invalid Solana RPC URL"},
	} {
		_, err := solana.Resolve(tc.network, tc.rpc, tc.program)
		if err == nil || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("Resolve(%q, %q, %q) error = %v, want %q", tc.network, tc.rpc, tc.program, err, tc.message)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q leaks the URL's password", err)
		}
	}
}

// TestClientJobAndRun: the run account found once is read again with the
// job in one getMultipleAccounts call; a run account gone, replaced by
// another program's or naming another job is not found.
func TestClientJobAndRun(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	job, runAddr, node := pk(0x21), pk(0x22), pk(0x23)
	want := sampleJob(true)
	srv.PutJob(job, jobsProgram, want)
	srv.PutRun(runAddr, jobsProgram, solana.Run{Job: job, Node: node, Time: 1700000000})
	addr, run, err := c.RunAccountOf(ctx, job)
	if err != nil || addr != runAddr || run.Node != node {
		t.Fatalf("RunAccountOf = %s %+v %v", addr, run, err)
	}
	srv.ResetCalls()
	j, r, found, err := c.JobAndRun(ctx, job, runAddr)
	if err != nil || !found || j != want || r.Node != node {
		t.Fatalf("JobAndRun = %+v %+v %v %v", j, r, found, err)
	}
	if reqs := srv.Requests(); len(reqs) != 1 || reqs[0].Method != "getMultipleAccounts" {
		t.Errorf("requests %+v", reqs)
	}
	srv.PutRun(runAddr, otherProgram, solana.Run{Job: job, Node: node})
	if _, _, found, err := c.JobAndRun(ctx, job, runAddr); err != nil || found {
		t.Errorf("another program's run account: found %v, %v", found, err)
	}
	srv.PutRun(runAddr, jobsProgram, solana.Run{Job: pk(0x24), Node: node})
	if _, _, found, err := c.JobAndRun(ctx, job, runAddr); err != nil || found {
		t.Errorf("a run account of another job: found %v, %v", found, err)
	}
	srv.RemoveAccount(runAddr)
	if _, _, found, err := c.JobAndRun(ctx, job, runAddr); err != nil || found {
		t.Errorf("run account gone: found %v, %v", found, err)
	}
	srv.PutJob(job, otherProgram, want)
	if _, _, _, err := c.JobAndRun(ctx, job, runAddr); !errors.Is(err, solana.ErrInvalidAccount) {
		t.Errorf("job of another program: %v", err)
	}
	srv.RemoveAccount(job)
	if _, _, _, err := c.JobAndRun(ctx, job, runAddr); !errors.Is(err, solana.ErrNotFound) {
		t.Errorf("job gone: %v", err)
	}
	srv.SetFailure(solanatest.FailHTTP500)
	if _, _, _, err := c.JobAndRun(ctx, job, runAddr); !errors.Is(err, solana.ErrUnavailable) {
		t.Errorf("RPC down: %v", err)
	}
}
