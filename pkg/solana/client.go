package solana

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/httpx"
)

// Chain is what the job checks read from the chain. Errors wrap ErrNotFound,
// ErrInvalidAccount or ErrUnavailable.
type Chain interface {
	// Job returns the job account at addr, refusing accounts that are not
	// owned by the jobs program or are not JobAccounts.
	Job(ctx context.Context, addr PublicKey) (Job, error)
	// RunOf returns the run account of job: the claim of the node that runs
	// it. ErrNotFound means nobody runs the job.
	RunOf(ctx context.Context, job PublicKey) (Run, error)
}

// maxResponse caps an RPC answer; ours are a few hundred bytes.
const maxResponse = 8 << 20

// Client implements Chain over Solana JSON-RPC (getAccountInfo and
// getProgramAccounts, commitment "confirmed", base64 data). It is safe for
// concurrent use.
type Client struct {
	http     *http.Client
	program  PublicKey
	timeout  time.Duration
	endpoint string
	host     string
}

var _ Chain = (*Client)(nil)

// NewClient returns a Client for cfg. httpClient may be nil for a default
// one; its Transport is reused but answers are capped at 8 MiB. Time limits
// come from cfg.Timeout, applied to every call through its context.
func NewClient(cfg Config, httpClient *http.Client) (*Client, error) {
	if err := checkRPCURL(cfg.RPCURL); err != nil {
		return nil, err
	}
	if cfg.JobsProgram.IsZero() {
		return nil, errors.New("no jobs program id configured")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{Transport: httpx.NewTransport()}
	if httpClient != nil {
		c := *httpClient
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = limitedTransport{base: base, max: maxResponse}
	return &Client{
		http:     hc,
		program:  cfg.JobsProgram,
		timeout:  timeout,
		endpoint: cfg.RPCURL,
		host:     hostOf(cfg.RPCURL),
	}, nil
}

// JobsProgram returns the program that must own job and run accounts.
func (c *Client) JobsProgram() PublicKey { return c.program }

// Job fetches and decodes the job account at addr.
func (c *Client) Job(ctx context.Context, addr PublicKey) (Job, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var res struct {
		Value *rpcAccount `json:"value"`
	}
	err := c.call(ctx, "getAccountInfo", []any{addr, map[string]string{"encoding": "base64", "commitment": "confirmed"}}, &res)
	if err != nil {
		return Job{}, c.unavailable("job "+addr.String(), "getAccountInfo", c.timeout, err)
	}
	acc := res.Value
	if acc == nil {
		return Job{}, fmt.Errorf("job %s: %w (no such account on chain)", addr, ErrNotFound)
	}
	if !acc.Owner.Equals(c.program) {
		return Job{}, fmt.Errorf("job %s: %w: owned by %s, not by the jobs program %s", addr, ErrInvalidAccount, acc.Owner, c.program)
	}
	data, err := acc.bytes()
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w: %v", addr, ErrInvalidAccount, err)
	}
	j, err := DecodeJob(data)
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", addr, err)
	}
	return j, nil
}

// RunOf finds the run account of job with getProgramAccounts filtered on the
// RunAccount discriminator (offset 0) and the job address (offset 8).
// Answers that are not owned by the jobs program, do not decode or name
// another job are ignored. Should several run accounts remain (the program
// never creates two), the one with the latest Time wins, ties going to the
// lowest account address, so every replica picks the same one.
func (c *Client) RunOf(ctx context.Context, job PublicKey) (Run, error) {
	_, r, err := c.RunAccountOf(ctx, job)
	return r, err
}

// RunAccountOf is RunOf with the address of the run account.
func (c *Client) RunAccountOf(ctx context.Context, job PublicKey) (PublicKey, Run, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var res []*keyedAccount
	err := c.call(ctx, "getProgramAccounts", []any{c.program, map[string]any{
		"commitment": "confirmed",
		"encoding":   "base64",
		"filters":    []memcmpFilter{memcmp(0, RunDiscriminator[:]), memcmp(offRunJob, job[:])},
	}}, &res)
	if err != nil {
		return PublicKey{}, Run{}, c.unavailable("run account of job "+job.String(), "getProgramAccounts", c.timeout, err)
	}
	var (
		best     Run
		bestAddr PublicKey
		found    bool
	)
	for _, ka := range res {
		if ka == nil || ka.Account == nil || !ka.Account.Owner.Equals(c.program) {
			continue
		}
		data, err := ka.Account.bytes()
		if err != nil {
			continue
		}
		r, err := DecodeRun(data)
		if err != nil || !r.Job.Equals(job) {
			continue
		}
		if !found || r.Time > best.Time || (r.Time == best.Time && bytes.Compare(ka.Pubkey[:], bestAddr[:]) < 0) {
			best, bestAddr, found = r, ka.Pubkey, true
		}
	}
	if !found {
		return PublicKey{}, Run{}, fmt.Errorf("job %s: %w: no run account (no node has claimed the job)", job, ErrNotFound)
	}
	return bestAddr, best, nil
}

// JobAndRun reads the job account and the account at runAddr in one
// getMultipleAccounts call. found is false when runAddr no longer holds a
// run account of job owned by the jobs program (the run ended; ask
// RunAccountOf again). The job account is checked as Job checks it.
func (c *Client) JobAndRun(ctx context.Context, job, runAddr PublicKey) (j Job, r Run, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var res struct {
		Value []*rpcAccount `json:"value"`
	}
	err = c.call(ctx, "getMultipleAccounts", []any{[]PublicKey{job, runAddr}, map[string]string{"encoding": "base64", "commitment": "confirmed"}}, &res)
	if err != nil {
		return Job{}, Run{}, false, c.unavailable("job "+job.String(), "getMultipleAccounts", c.timeout, err)
	}
	if len(res.Value) != 2 {
		return Job{}, Run{}, false, c.unavailable("job "+job.String(), "getMultipleAccounts", c.timeout, errors.New("answer without two accounts"))
	}
	acc := res.Value[0]
	if acc == nil {
		return Job{}, Run{}, false, fmt.Errorf("job %s: %w (no such account on chain)", job, ErrNotFound)
	}
	if !acc.Owner.Equals(c.program) {
		return Job{}, Run{}, false, fmt.Errorf("job %s: %w: owned by %s, not by the jobs program %s", job, ErrInvalidAccount, acc.Owner, c.program)
	}
	data, err := acc.bytes()
	if err != nil {
		return Job{}, Run{}, false, fmt.Errorf("job %s: %w: %v", job, ErrInvalidAccount, err)
	}
	if j, err = DecodeJob(data); err != nil {
		return Job{}, Run{}, false, fmt.Errorf("job %s: %w", job, err)
	}
	ra := res.Value[1]
	if ra == nil || !ra.Owner.Equals(c.program) {
		return j, Run{}, false, nil
	}
	data, err = ra.bytes()
	if err != nil {
		return j, Run{}, false, nil
	}
	r, err = DecodeRun(data)
	if err != nil || !r.Job.Equals(job) {
		return j, Run{}, false, nil
	}
	return j, r, true, nil
}

// limitedTransport fails a response body that grows past max bytes, so a
// broken or hostile RPC node cannot make us buffer without bound.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

var errTooLarge = errors.New("RPC answer larger than 8 MiB")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells "exactly max" from "more than max".
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
