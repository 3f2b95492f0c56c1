// Package jobs decides what a job-scoped login may read (SPEC.md §2,
// "Job-scoped login", steps 1-5) and whether a job token is still good.
//
// A node that runs a project's job may read, in the project's namespace, the
// secrets the job JSON lists; once the job is finished, the project may read,
// in the node's namespace, the secrets the result JSON lists. Everything is
// read from the chain through solana.Chain, which refuses accounts not owned
// by the jobs program, and from IPFS.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
)

// Documents fetches job and result documents; *ipfs.Client is one, and
// refuses a document that does not match its CID. Errors should wrap
// ipfs.ErrNotFound, ipfs.ErrInvalidDocument (a mismatch is one) or
// ipfs.ErrUnavailable; any other error counts as unavailable.
type Documents interface {
	Fetch(ctx context.Context, cid string) (ipfs.Document, error)
}

// DefaultValidFor is how long StillValid trusts one answer by default.
const DefaultValidFor = 15 * time.Second

// maxValid bounds the StillValid cache.
const maxValid = 10000

// Grant is what a job login entitles the caller to.
type Grant struct {
	Job         string   // the job address
	UserAddress string   // whose namespace the token reads
	Secrets     []string // the keys it may read there; never nil
	// NoList is set when the document has no grant list at all (a
	// "state" without one), which a read answers differently from an
	// empty list (SPEC §2 step 6).
	NoList  bool
	Running bool // the caller is the job's node (else its project)
	// Deadline is when a running job times out: the run's start plus the
	// job's timeout. Zero for finished jobs and for accounts without a
	// timeout. (The program writes the job's timeStart only when the job
	// ends, so a running job's start is taken from its run account.)
	Deadline time.Time
}

// Verifier applies the job rules. Chain and IPFS must be set; the other
// fields are optional. A Verifier is safe for concurrent use and must not
// be copied after first use.
type Verifier struct {
	Chain solana.Chain
	IPFS  Documents
	// ValidFor is how long StillValid trusts an answer for one (job, node).
	// Zero means DefaultValidFor; negative means always ask the chain.
	ValidFor time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	valid map[validKey]validEntry
	group singleflight.Group
}

type validKey struct{ job, node solana.PublicKey }

type validEntry struct {
	err     error // nil or an Ended *Error
	expires time.Time
}

// ParseJob parses the job address of a login request; a malformed one is a
// BadRequest *Error.
func ParseJob(s string) (solana.PublicKey, error) {
	pk, err := solana.PublicKeyFromBase58(s)
	if err != nil {
		shown := s
		if len(shown) > 64 {
			shown = shown[:64] + "…"
		}
		return solana.PublicKey{}, &Error{
			Class:   BadRequest,
			Job:     s,
			Message: fmt.Sprintf("invalid job address %q: want the base58 address of a job account", shown),
			Err:     err,
		}
	}
	return pk, nil
}

// Grant checks that caller may read secrets for job and returns what.
//
// Running job (state < 2): the job's run account must name caller as node,
// else "You did not claim this job:<job>"; the grant is the job document's
// list in the project's namespace. Finished job (state ≥ 2): caller must be
// the project, else "You do not own this job:<job>"; the grant is the result
// document's list in the node's namespace. A job whose document hash is all
// zeros (no document, e.g. a job stopped before it had a result) grants
// nothing. Cost: one getAccountInfo, one getProgramAccounts when running,
// and one gateway fetch unless the document is cached.
func (v *Verifier) Grant(ctx context.Context, job, caller solana.PublicKey) (Grant, error) {
	if v.Chain == nil || v.IPFS == nil {
		return Grant{}, errNotConfigured(job)
	}
	j, err := v.Chain.Job(ctx, job)
	if err != nil {
		return Grant{}, chainError(job, err)
	}
	if j.Finished() {
		if err := smallOrder(job, "project", j.Project, "node", j.Node); err != nil {
			return Grant{}, err
		}
		if !j.Project.Equals(caller) {
			return Grant{}, &Error{Class: BadRequest, Job: job.String(), Message: "You do not own this job:" + job.String()}
		}
		secrets, noList, err := v.grants(ctx, job, "result", j.IPFSResult)
		if err != nil {
			return Grant{}, err
		}
		return Grant{Job: job.String(), UserAddress: j.Node.String(), Secrets: secrets, NoList: noList}, nil
	}

	run, err := v.Chain.RunOf(ctx, job)
	if errors.Is(err, solana.ErrNotFound) {
		return Grant{}, &Error{Class: BadRequest, Job: job.String(),
			Message: fmt.Sprintf("job %s is not running: no node has claimed it (no run account)", job), Err: err}
	}
	if err != nil {
		return Grant{}, chainError(job, err)
	}
	if err := smallOrder(job, "node", run.Node, "project", j.Project); err != nil {
		return Grant{}, err
	}
	if !run.Node.Equals(caller) {
		return Grant{}, &Error{Class: BadRequest, Job: job.String(), Message: "You did not claim this job:" + job.String()}
	}
	// The caller runs the job right now: a read that follows need not ask
	// the chain again.
	v.remember(validKey{job, caller}, nil)

	secrets, noList, err := v.grants(ctx, job, "job", j.IPFSJob)
	if err != nil {
		return Grant{}, err
	}
	start := run.Time
	if start == 0 {
		start = j.TimeStart // older programs set it when a node claimed the job
	}
	return Grant{
		Job:         job.String(),
		UserAddress: j.Project.String(),
		Secrets:     secrets,
		NoList:      noList,
		Running:     true,
		Deadline:    deadline(start, j),
	}, nil
}

// StillValid reports whether node still runs job: the job is not finished
// and its run account names node. It returns nil, an Ended *Error (the job
// ended, was stopped or closed, or runs elsewhere), or an Unavailable one.
// Answers are cached per (job, node) for ValidFor; failures to ask are not.
func (v *Verifier) StillValid(ctx context.Context, job, node solana.PublicKey) error {
	if v.Chain == nil {
		return errNotConfigured(job)
	}
	key := validKey{job, node}
	if err, ok := v.cached(key); ok {
		return err
	}
	ch := v.group.DoChan(job.String()+"/"+node.String(), func() (any, error) {
		// The shared check outlives a caller that gives up; the Chain bounds
		// each call with its own timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err := v.check(cctx, job, node)
		var e *Error
		if err == nil || (errors.As(err, &e) && e.Class == Ended) {
			v.remember(key, err)
		}
		return nil, err
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return &Error{Class: Unavailable, Job: job.String(),
			Message: fmt.Sprintf("job %s: gave up checking the job: %v", job, ctx.Err()), Err: ctx.Err()}
	}
}

func (v *Verifier) check(ctx context.Context, job, node solana.PublicKey) error {
	ended := func(format string, args ...any) error {
		return &Error{Class: Ended, Job: job.String(), Message: fmt.Sprintf(format, args...)}
	}
	j, err := v.Chain.Job(ctx, job)
	switch {
	case errors.Is(err, solana.ErrNotFound), errors.Is(err, solana.ErrInvalidAccount):
		return &Error{Class: Ended, Job: job.String(), Message: fmt.Sprintf("job %s has ended: its account is gone", job), Err: err}
	case err != nil:
		return chainError(job, err)
	case j.Finished():
		return ended("job %s has ended (%s)", job, solana.StateName(j.State))
	}
	run, err := v.Chain.RunOf(ctx, job)
	switch {
	case errors.Is(err, solana.ErrNotFound):
		return ended("job %s is no longer running: no node runs it", job)
	case err != nil:
		return chainError(job, err)
	case !run.Node.Equals(node):
		return ended("job %s runs on another node now", job)
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) ttl() time.Duration {
	if v.ValidFor == 0 {
		return DefaultValidFor
	}
	return v.ValidFor
}

func (v *Verifier) cached(key validKey) (error, bool) {
	if v.ttl() < 0 {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.valid[key]
	if !ok || !v.now().Before(e.expires) {
		return nil, false
	}
	return e.err, true
}

func (v *Verifier) remember(key validKey, err error) {
	ttl := v.ttl()
	if ttl < 0 {
		return
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.valid == nil {
		v.valid = make(map[validKey]validEntry)
	}
	if len(v.valid) >= maxValid {
		for k, e := range v.valid {
			if !now.Before(e.expires) {
				delete(v.valid, k)
			}
		}
		for k := range v.valid {
			if len(v.valid) < maxValid {
				break
			}
			delete(v.valid, k)
		}
	}
	v.valid[key] = validEntry{err: err, expires: now.Add(ttl)}
}

// grants fetches the document whose digest the job stores and returns its
// grant list, and whether it has none (ipfs.HasGrantList). No document
// (a zero digest) grants an empty list.
func (v *Verifier) grants(ctx context.Context, job solana.PublicKey, which string, digest [32]byte) ([]string, bool, error) {
	if digest == ([32]byte{}) {
		return []string{}, false, nil
	}
	cid := ipfs.CID(digest)
	doc, err := v.IPFS.Fetch(ctx, cid)
	if err != nil {
		class := Unavailable
		if errors.Is(err, ipfs.ErrNotFound) || errors.Is(err, ipfs.ErrInvalidDocument) {
			class = BadRequest
		}
		return nil, false, &Error{Class: class, Job: job.String(),
			Message: fmt.Sprintf("job %s: cannot read its %s document: %v", job, which, err), Err: err}
	}
	return ipfs.Grants(doc), !ipfs.HasGrantList(doc), nil
}

// smallOrder refuses a job whose account names a key of small order (see
// auth.SmallOrderKey) as the party compared with the caller or as the
// namespace read: anyone can sign in as such a key.
func smallOrder(job solana.PublicKey, name1 string, k1 solana.PublicKey, name2 string, k2 solana.PublicKey) error {
	for _, k := range []struct {
		name string
		key  solana.PublicKey
	}{{name1, k1}, {name2, k2}} {
		if auth.SmallOrderKey(k.key[:]) {
			return &Error{Class: BadRequest, Job: job.String(),
				Message: fmt.Sprintf("job %s names a small-order key as its %s; refused", job, k.name)}
		}
	}
	return nil
}

// chainError classifies an error of solana.Chain.
func chainError(job solana.PublicKey, err error) error {
	class := Unavailable
	if errors.Is(err, solana.ErrNotFound) || errors.Is(err, solana.ErrInvalidAccount) {
		class = BadRequest
	}
	msg := err.Error()
	if !strings.Contains(msg, job.String()) {
		msg = fmt.Sprintf("job %s: %s", job, msg)
	}
	return &Error{Class: class, Job: job.String(), Message: msg, Err: err}
}

// errNotConfigured keeps a Verifier without a Chain or IPFS from panicking.
func errNotConfigured(job solana.PublicKey) error {
	return &Error{Class: Unavailable, Job: job.String(), Message: fmt.Sprintf("job %s: job checks are not configured", job)}
}

// deadline is start+timeout, or zero without a usable timeout.
func deadline(start int64, j solana.Job) time.Time {
	if !j.HasTimeout || j.Timeout <= 0 || start <= 0 || start > math.MaxInt64-j.Timeout {
		return time.Time{}
	}
	return time.Unix(start+j.Timeout, 0).UTC()
}
