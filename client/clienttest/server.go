// Package clienttest runs an in-memory fake of the nosana-secrets REST API
// for tests of programs that use the client: it checks sign-in signatures
// (both message forms), issues real HS256 tokens, keeps secrets per owner,
// answers job-scoped sign-ins from grants set by the test, records every
// request and can be made to fail.
package clienttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
)

// Request is one recorded request.
type Request struct {
	Method, Path, Query string
	Authorization       string
	UserAgent           string
	Body                []byte
}

// Grant is what a job sign-in of a node gets.
type Grant struct {
	Node        string   // the caller that may sign in for the job
	UserAddress string   // the namespace the token reads
	Secrets     []string // the keys it may read
}

// Failure is an answer the server gives instead of handling a request. A
// zero Failure handles its request normally.
type Failure struct {
	Status int
	Body   string // "" means a JSON error body of the status
}

// Server is the fake API. Its methods are safe for concurrent use.
type Server struct {
	URL string

	srv    *httptest.Server
	tokens *auth.Tokens

	mu        sync.Mutex
	secrets   map[string]map[string]json.RawMessage // owner → key → value
	grants    map[string]Grant                      // job → grant
	requests  []Request
	failures  []Failure // answered in order, one per request
	revoked   time.Time // tokens issued at or before are refused
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
	tokens, err := auth.NewTokens([]byte("clienttest-key"), time.Hour, nil)
	if err != nil {
		panic(err)
	}
	s := &Server{tokens: tokens, secrets: map[string]map[string]json.RawMessage{}, grants: map[string]Grant{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server; later requests fail to connect.
func (s *Server) Close() { s.srv.Close() }

// Put stores secrets for owner as if set through the API.
func (s *Server) Put(owner string, secrets map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range secrets {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		s.ns(owner)[k] = b
	}
}

// Secrets returns a copy of owner's secrets.
func (s *Server) Secrets(owner string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	for k, v := range s.secrets[owner] {
		out[k] = v
	}
	return out
}

// Grant makes a job sign-in for job answer g.
func (s *Server) Grant(job string, g Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants[job] = g
}

// Fail makes the next requests answer the given failures, one each.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// RevokeTokens makes every token issued so far answer 403, as an expired
// token does.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = time.Now()
}

// DisableLegacy makes legacy sign-ins fail with 400; DisableSIWS the same
// for message sign-ins (as servers that predate them answer).
func (s *Server) DisableLegacy() { s.mu.Lock(); s.legacyOff = true; s.mu.Unlock() }

// DisableSIWS makes message sign-ins fail with 400.
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

func (s *Server) ns(owner string) map[string]json.RawMessage {
	m := s.secrets[owner]
	if m == nil {
		m = map[string]json.RawMessage{}
		s.secrets[owner] = m
	}
	return m
}

type apiErr struct {
	status int
	typ    string
	msg    string
}

func writeErr(w http.ResponseWriter, e apiErr) {
	body := map[string]string{"type": e.typ, "message": e.msg}
	if e.typ == "ValidationError" {
		body["error"] = e.msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func bad(format string, args ...any) *apiErr {
	return &apiErr{http.StatusBadRequest, "ValidationError", fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
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
	s.mu.Unlock()
	if fail != nil && fail.Status != 0 {
		if fail.Body == "" {
			writeErr(w, apiErr{fail.Status, "InternalServerError", http.StatusText(fail.Status)})
			return
		}
		w.WriteHeader(fail.Status)
		_, _ = io.WriteString(w, fail.Body)
		return
	}
	var out any
	var e *apiErr
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/login":
		out, e = s.login(body)
	case r.URL.Path == "/secrets" || strings.HasPrefix(r.URL.Path, "/secrets/"):
		claims, err := s.auth(r)
		if err != nil {
			e = err
			break
		}
		out, e = s.secretsRoute(r, claims, body)
	default:
		e = &apiErr{http.StatusNotFound, "NotFoundError", "no such route"}
	}
	if e != nil {
		writeErr(w, *e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if raw, ok := out.(json.RawMessage); ok {
		_, _ = w.Write(raw)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) login(body []byte) (any, *apiErr) {
	req, err := auth.ParseLoginRequest(body)
	if err != nil {
		return nil, bad("%v", err)
	}
	s.mu.Lock()
	legacyOff, siwsOff := s.legacyOff, s.siwsOff
	s.mu.Unlock()
	if req.Message != "" {
		if siwsOff {
			return nil, bad("message sign-in is not available yet; send timestamp")
		}
		aud, _ := auth.NewAudience(s.URL)
		if _, err := auth.VerifySIWS(req, []auth.Audience{aud}, time.Now(), time.Minute); err != nil {
			return nil, bad("%v", err)
		}
	} else {
		if legacyOff {
			return nil, bad("legacy sign-in is turned off on this server")
		}
		if err := auth.VerifyLegacy(req, time.Now(), time.Minute); err != nil {
			return nil, bad("%v", err)
		}
	}
	claims := auth.Claims{Address: req.Address}
	if req.Job != "" {
		s.mu.Lock()
		g, ok := s.grants[req.Job]
		s.mu.Unlock()
		if !ok || g.Node != req.Address {
			return nil, bad("You did not claim this job:%s", req.Job)
		}
		claims.UserAddress, claims.Secrets, claims.Job = g.UserAddress, g.Secrets, req.Job
	}
	tok, _, err := s.tokens.Issue(claims, time.Time{})
	if err != nil {
		return nil, &apiErr{http.StatusInternalServerError, "InternalServerError", "internal server error"}
	}
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	return map[string]string{"token": tok}, nil
}

func (s *Server) auth(r *http.Request) (*auth.Claims, *apiErr) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &apiErr{http.StatusForbidden, "ForbiddenError", "Not authenticated"}
	}
	c, err := s.tokens.Verify(strings.TrimPrefix(h, "Bearer "))
	if err != nil {
		return nil, &apiErr{http.StatusForbidden, "ForbiddenError", err.Error()}
	}
	s.mu.Lock()
	revoked := s.revoked
	s.mu.Unlock()
	if !revoked.IsZero() && !c.IssuedAt.After(revoked.Truncate(time.Second)) {
		return nil, &apiErr{http.StatusForbidden, "ForbiddenError", "invalid token: token expired; log in again"}
	}
	return c, nil
}

func (s *Server) secretsRoute(r *http.Request, c *auth.Claims, body []byte) (any, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/secrets":
		prefix := r.URL.Query().Get("prefix")
		ns := s.secrets[c.ReadNamespace()]
		var keys []string
		if c.Scoped() {
			if len(c.Secrets) == 0 {
				return nil, bad("no secrets in job")
			}
			for _, k := range c.Secrets {
				if _, ok := ns[k]; ok && strings.HasPrefix(k, prefix) {
					keys = append(keys, k)
				}
			}
		} else {
			for k := range ns {
				if strings.HasPrefix(k, prefix) {
					keys = append(keys, k)
				}
			}
		}
		sort.Strings(keys)
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			buf.Write(ns[k])
		}
		buf.WriteByte('}')
		return json.RawMessage(buf.Bytes()), nil
	case r.Method == http.MethodGet:
		key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/secrets/"))
		if err != nil || key == "" {
			return nil, bad("secret key in the path is not validly escaped")
		}
		if c.Scoped() && !c.Grants(key) {
			return nil, bad("secret key %s not in job", key)
		}
		v, ok := s.secrets[c.ReadNamespace()][key]
		if !ok {
			return nil, &apiErr{http.StatusNotFound, "NotFoundError", "secret " + key + " not found"}
		}
		return v, nil
	case r.Method == http.MethodPost && r.URL.Path == "/secrets":
		var req struct {
			Secrets map[string]json.RawMessage `json:"secrets"`
			Prefix  string                     `json:"prefix"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Secrets == nil {
			return nil, bad("secrets must be an object of key to value")
		}
		for k, v := range req.Secrets {
			var cb bytes.Buffer
			if err := json.Compact(&cb, v); err != nil {
				return nil, bad("value of %s is not valid JSON", k)
			}
			s.ns(c.Address)[req.Prefix+k] = cb.Bytes()
		}
		return json.RawMessage(`"OK"`), nil
	case r.Method == http.MethodDelete && r.URL.Path == "/secrets":
		var req struct {
			Key json.RawMessage `json:"key"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.Key) == 0 {
			return nil, bad("body must be {\"key\": \"KEY\"} or {\"key\": [\"KEY1\", \"KEY2\"]}")
		}
		var keys []string
		if req.Key[0] == '[' {
			_ = json.Unmarshal(req.Key, &keys)
		} else {
			var k string
			_ = json.Unmarshal(req.Key, &k)
			keys = []string{k}
		}
		for _, k := range keys {
			delete(s.ns(c.Address), k)
		}
		return json.RawMessage(`"OK"`), nil
	}
	return nil, &apiErr{http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed on this route"}
}
