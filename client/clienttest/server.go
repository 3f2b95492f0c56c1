// Package clienttest runs the real nosana-secrets server (server.New) in
// process, over memory storage, for tests of programs that use the client.
// Around it sits a middleware that records every request and can answer
// with injected failures instead; job sign-ins are answered from grants the
// test sets, through the real job rules over an in-process chain and
// document store.
package clienttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

// Request is one recorded request.
type Request struct {
	Method, Path, Query string
	Authorization       string
	UserAgent           string
	Body                []byte
}

// Grant is what a job sign-in of a node gets: Node runs the job, of the
// project UserAddress, whose document lists Secrets. Addresses are base58.
type Grant struct {
	Node        string // the caller that may sign in for the job
	UserAddress string // the namespace the token reads
	// Secrets are the keys it may read; nil is a job document whose state
	// has no grant list (reads answer 400), empty an empty list ({}).
	Secrets []string
}

// Failure is an answer given instead of handling a request. A zero Failure
// handles its request normally.
type Failure struct {
	Status int
	Body   string // "" means a JSON error body of the status
}

// tokenTTL is the lifetime of the server's tokens.
const tokenTTL = time.Hour

// Server is the real API over memory storage. Its methods are safe for
// concurrent use.
type Server struct {
	URL string

	srv     *httptest.Server
	store   storage.Store
	tokens  *auth.Tokens
	skew    atomic.Int64 // added to the token clock: RevokeTokens
	chain   *chain
	handler atomic.Pointer[http.Handler]

	mu        sync.Mutex
	requests  []Request
	failures  []Failure // answered in order, one per request
	legacyOff bool
	siwsOff   bool
	logins    int
}

// NewServer starts a Server that tb closes at cleanup.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// Start starts a Server; the caller must Close it.
func Start() *Server {
	store, err := stack.Open(context.Background(), "memory://", stack.Options{})
	if err != nil {
		panic(err)
	}
	s := &Server{store: store, chain: &chain{jobs: map[solana.PublicKey]jobEntry{}, docs: map[string]ipfs.Document{}}}
	s.tokens, err = auth.NewTokens([]byte("clienttest-key-of-at-least-32-bytes"), tokenTTL,
		func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) })
	if err != nil {
		panic(err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.rebuild()
	return s
}

// rebuild makes the server answer with options as they are now.
func (s *Server) rebuild() {
	aud, err := auth.NewAudience(s.URL)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	legacyOff := s.legacyOff
	s.mu.Unlock()
	srv, err := server.New(server.Options{
		Store:              s.store,
		Tokens:             s.tokens,
		Audiences:          []auth.Audience{aud},
		DisableLegacyLogin: legacyOff,
		Jobs:               &jobs.Verifier{Chain: s.chain, IPFS: s.chain, ValidFor: -1},
	})
	if err != nil {
		panic(err)
	}
	h := srv.Handler()
	s.handler.Store(&h)
}

// Close stops the server; later requests fail to connect.
func (s *Server) Close() {
	s.srv.Close()
	s.store.Close()
}

// Put stores secrets for owner as if set through the API.
func (s *Server) Put(owner string, secrets map[string]any) {
	items := make([]storage.Item, 0, len(secrets))
	for k, v := range secrets {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		items = append(items, storage.Item{Name: k, Value: b})
	}
	if err := s.store.Put(context.Background(), owner, items); err != nil {
		panic(err)
	}
}

// Secrets returns owner's secrets.
func (s *Server) Secrets(owner string) map[string]json.RawMessage {
	list, err := s.store.List(context.Background(), owner, "")
	if err != nil {
		panic(err)
	}
	out := make(map[string]json.RawMessage, len(list))
	for _, sec := range list {
		out[sec.Name] = sec.Value
	}
	return out
}

// Grant makes the base58 address job a running job of g.UserAddress on
// g.Node, whose document grants g.Secrets. It panics on a malformed address.
func (s *Server) Grant(job string, g Grant) {
	s.chain.put(solana.MustPublicKeyFromBase58(job), solana.MustPublicKeyFromBase58(g.Node),
		solana.MustPublicKeyFromBase58(g.UserAddress), g.Secrets)
}

// Fail makes the next requests answer the given failures, one each.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// RevokeTokens makes every token issued so far answer 403, as an expired
// token does: the server's token clock jumps past their expiry and the
// 5 s leeway it allows.
func (s *Server) RevokeTokens() { s.skew.Add(int64(tokenTTL + time.Minute)) }

// DisableLegacy makes the server refuse legacy sign-ins, as LEGACY_LOGIN=false does.
func (s *Server) DisableLegacy() {
	s.mu.Lock()
	s.legacyOff = true
	s.mu.Unlock()
	s.rebuild()
}

// DisableSIWS makes message sign-ins fail with 400, as servers that
// predate them answer.
func (s *Server) DisableSIWS() { s.mu.Lock(); s.siwsOff = true; s.mu.Unlock() }

// Logins is how many sign-ins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Token issues a token for address, as a sign-in would.
func (s *Server) Token(address string) string {
	tok, _, err := s.tokens.Issue(auth.Claims{Address: address}, time.Time{})
	if err != nil {
		panic(err)
	}
	return tok
}

// serve is the recorder and fault-injection middleware around the real
// handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"), UserAgent: r.Header.Get("User-Agent"), Body: body,
	})
	var fail *Failure
	if len(s.failures) > 0 {
		fail = &s.failures[0]
		s.failures = s.failures[1:]
	}
	siwsOff := s.siwsOff
	s.mu.Unlock()
	if fail != nil && fail.Status != 0 {
		if fail.Body == "" {
			writeErr(w, fail.Status, "InternalServerError", http.StatusText(fail.Status))
			return
		}
		w.WriteHeader(fail.Status)
		_, _ = io.WriteString(w, fail.Body)
		return
	}
	login := r.Method == http.MethodPost && r.URL.Path == "/login"
	if login && siwsOff {
		var req struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &req) == nil && req.Message != "" {
			writeErr(w, http.StatusBadRequest, "ValidationError", "message sign-in is not available yet; send timestamp")
			return
		}
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	(*s.handler.Load()).ServeHTTP(rec, r)
	if login && rec.status == http.StatusOK {
		s.mu.Lock()
		s.logins++
		s.mu.Unlock()
	}
}

// writeErr writes an error body of the original server's shape.
func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	body := map[string]string{"type": typ, "message": msg}
	if typ == "ValidationError" {
		body["error"] = msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// chain stands in for the Solana RPC (solana.Chain) and the IPFS gateway
// (jobs.Documents) in process: each granted job is a running job whose
// run account names its node.
type chain struct {
	mu   sync.Mutex
	jobs map[solana.PublicKey]jobEntry
	docs map[string]ipfs.Document
}

type jobEntry struct {
	job solana.Job
	run solana.Run
}

func (c *chain) put(job, node, project solana.PublicKey, secrets []string) {
	list := make([]any, len(secrets))
	for i, k := range secrets {
		list[i] = k
	}
	doc := ipfs.Document{"state": map[string]any{ipfs.GrantsKey: list}}
	if secrets == nil {
		doc = ipfs.Document{"state": map[string]any{}}
	}
	b, _ := json.Marshal(doc)
	digest := sha256.Sum256(append(b, []byte(job.String())...)) // one document per job
	c.mu.Lock()
	defer c.mu.Unlock()
	c.docs[ipfs.CID(digest)] = doc
	c.jobs[job] = jobEntry{
		job: solana.Job{IPFSJob: digest, Project: project, State: solana.JobQueued},
		run: solana.Run{Job: job, Node: node, Time: time.Now().Unix()},
	}
}

// entry is the job at addr, or an error naming it as what that wraps
// solana.ErrNotFound.
func (c *chain) entry(addr solana.PublicKey, what string) (jobEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.jobs[addr]
	if !ok {
		return jobEntry{}, fmt.Errorf("%s %s: %w", what, addr, solana.ErrNotFound)
	}
	return e, nil
}

// Job implements solana.Chain.
func (c *chain) Job(_ context.Context, addr solana.PublicKey) (solana.Job, error) {
	e, err := c.entry(addr, "job")
	return e.job, err
}

// RunOf implements solana.Chain.
func (c *chain) RunOf(_ context.Context, job solana.PublicKey) (solana.Run, error) {
	e, err := c.entry(job, "run of job")
	return e.run, err
}

// Fetch implements jobs.Documents.
func (c *chain) Fetch(_ context.Context, cid string) (ipfs.Document, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	doc, ok := c.docs[cid]
	if !ok {
		return nil, fmt.Errorf("%s: %w", cid, ipfs.ErrNotFound)
	}
	return doc, nil
}
