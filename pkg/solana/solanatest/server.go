// Package solanatest runs a fake Solana JSON-RPC node for tests.
//
// The Server answers getAccountInfo and getProgramAccounts with the same JSON
// shapes as a real node (Agave 2.x): accounts carry their owner, lamports and
// raw data, encoded base64 or base58 as asked; getProgramAccounts applies
// memcmp and dataSize filters; unknown methods get JSON-RPC error -32601.
// It records every call, can answer slowly and can be made to fail.
package solanatest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
)

// APIVersion is the node version reported in every answer's context.
const APIVersion = "2.2.0"

// Account is an account as the chain stores it.
type Account struct {
	Owner      solana.PublicKey
	Lamports   uint64
	Data       []byte
	Executable bool
}

// Failure makes the server fail every request in one way.
type Failure int

const (
	// FailNone answers normally.
	FailNone Failure = iota
	// FailHTTP500 answers HTTP 500 with a plain-text body, as a proxy in
	// front of a node does.
	FailHTTP500
	// FailClose closes the connection without answering.
	FailClose
	// FailInternal answers HTTP 200 with JSON-RPC error -32603.
	FailInternal
	// FailRateLimit answers HTTP 429 with a JSON-RPC error 429, as the public
	// endpoints do.
	FailRateLimit
)

// Call is one recorded JSON-RPC request.
type Call struct {
	Method string
	Params json.RawMessage
}

// Server is a fake JSON-RPC node. Its methods are safe for concurrent use.
type Server struct {
	// URL is the JSON-RPC endpoint.
	URL string

	// Injector gives the server SetDelay and SetFailure.
	fault.Injector[Failure]

	srv *httptest.Server

	mu            sync.Mutex
	accounts      map[solana.PublicKey]Account
	calls         []Call
	ignoreFilters bool
	slot          uint64
}

// NewServer starts a Server that tb closes at cleanup.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{accounts: map[solana.PublicKey]Account{}, slot: 340_000_000}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server; later requests fail to connect.
func (s *Server) Close() { s.srv.Close() }

// SetAccount stores an account at addr, replacing any.
func (s *Server) SetAccount(addr solana.PublicKey, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Data = slices.Clone(a.Data)
	s.accounts[addr] = a
}

// RemoveAccount deletes the account at addr, as closing it on chain does.
func (s *Server) RemoveAccount(addr solana.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accounts, addr)
}

// PutJob stores j, encoded as on chain, at addr with the given owner (the
// jobs program, or another one to forge an account) and rent-exempt lamports.
func (s *Server) PutJob(addr, owner solana.PublicKey, j solana.Job) {
	data := solana.EncodeJob(j)
	s.SetAccount(addr, Account{Owner: owner, Lamports: RentExempt(len(data)), Data: data})
}

// PutRun stores r, encoded as on chain, at addr with the given owner.
func (s *Server) PutRun(addr, owner solana.PublicKey, r solana.Run) {
	data := solana.EncodeRun(r)
	s.SetAccount(addr, Account{Owner: owner, Lamports: RentExempt(len(data)), Data: data})
}

// RentExempt is the minimum balance of an account of size bytes.
func RentExempt(size int) uint64 { return uint64(128+size) * 3480 * 2 }

// Calls returns how many requests of method were received.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Requests returns every recorded request, oldest first.
func (s *Server) Requests() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the recorded requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// SetIgnoreFilters makes getProgramAccounts behave like a broken or hostile
// node: it returns every account it holds, whatever the owner or filters.
func (s *Server) SetIgnoreFilters(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreFilters = on
}

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

type rpcContext struct {
	APIVersion string `json:"apiVersion"`
	Slot       uint64 `json:"slot"`
}

type withContext struct {
	Context rpcContext `json:"context"`
	Value   any        `json:"value"`
}

// accountJSON has the field order of a real node's answer.
type accountJSON struct {
	Data       [2]string `json:"data"`
	Executable bool      `json:"executable"`
	Lamports   uint64    `json:"lamports"`
	Owner      string    `json:"owner"`
	RentEpoch  uint64    `json:"rentEpoch"`
	Space      int       `json:"space"`
}

type keyedAccountJSON struct {
	Account accountJSON `json:"account"`
	Pubkey  string      `json:"pubkey"`
}

type dataSlice struct {
	Offset int `json:"offset"`
	Length int `json:"length"`
}

type accountConfig struct {
	Encoding       string     `json:"encoding"`
	Commitment     string     `json:"commitment"`
	DataSlice      *dataSlice `json:"dataSlice"`
	MinContextSlot *uint64    `json:"minContextSlot"`
}

type memcmp struct {
	Offset   int    `json:"offset"`
	Bytes    string `json:"bytes"`
	Encoding string `json:"encoding"`
}

type filter struct {
	Memcmp   *memcmp `json:"memcmp"`
	DataSize *int    `json:"dataSize"`
}

func (c *accountConfig) commitment() string { return c.Commitment }

type programConfig struct {
	accountConfig
	Filters     []filter `json:"filters"`
	WithContext bool     `json:"withContext"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Used HTTP Method is not allowed. POST or OPTIONS is required", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusOK, response{JSONRPC: "2.0", Error: &rpcError{-32700, "Parse error"}, ID: json.RawMessage("null")})
		return
	}
	if len(req.ID) == 0 {
		req.ID = json.RawMessage("null")
	}

	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: req.Method, Params: slices.Clone(req.Params)})
	s.mu.Unlock()

	failure, ok := s.Wait(r.Context(), 0)
	if !ok {
		return
	}

	switch failure {
	case FailHTTP500:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	case FailClose:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case FailInternal:
		writeJSON(w, http.StatusOK, response{JSONRPC: "2.0", Error: &rpcError{-32603, "Internal error"}, ID: req.ID})
		return
	case FailRateLimit:
		writeJSON(w, http.StatusTooManyRequests, response{JSONRPC: "2.0",
			Error: &rpcError{429, "Too many requests for a specific RPC call, contact your app developer or support@rpcpool.com."}, ID: req.ID})
		return
	}

	if req.JSONRPC != "2.0" {
		writeJSON(w, http.StatusOK, response{JSONRPC: "2.0", Error: &rpcError{-32600, "Invalid request"}, ID: req.ID})
		return
	}
	var (
		result any
		rerr   *rpcError
	)
	switch req.Method {
	case "getAccountInfo":
		result, rerr = s.getAccountInfo(req.Params)
	case "getProgramAccounts":
		result, rerr = s.getProgramAccounts(req.Params)
	case "getMultipleAccounts":
		result, rerr = s.getMultipleAccounts(req.Params)
	default:
		rerr = &rpcError{-32601, "Method not found"}
	}
	if rerr != nil {
		writeJSON(w, http.StatusOK, response{JSONRPC: "2.0", Error: rerr, ID: req.ID})
		return
	}
	writeJSON(w, http.StatusOK, response{JSONRPC: "2.0", Result: result, ID: req.ID})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func invalidParams(format string, args ...any) *rpcError {
	return &rpcError{-32602, fmt.Sprintf(format, args...)}
}

// splitParams decodes [pubkey, config?].
func splitParams(raw json.RawMessage, cfg any) (solana.PublicKey, *rpcError) {
	var params []json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil || len(params) == 0 || len(params) > 2 {
		return solana.PublicKey{}, invalidParams("Invalid params: expected [pubkey, config?]")
	}
	var s string
	if err := json.Unmarshal(params[0], &s); err != nil {
		return solana.PublicKey{}, invalidParams("Invalid params: invalid type: expected a string")
	}
	b, err := base58.Decode(s)
	if err != nil {
		return solana.PublicKey{}, invalidParams("Invalid param: Invalid")
	}
	if len(b) != 32 {
		return solana.PublicKey{}, invalidParams("Invalid param: WrongSize")
	}
	if len(params) == 2 && string(params[1]) != "null" {
		if err := json.Unmarshal(params[1], cfg); err != nil {
			return solana.PublicKey{}, invalidParams("Invalid params: %v", err)
		}
	}
	return solana.PublicKeyFromBytes(b), nil
}

// accountParams is splitParams of a call whose config names a commitment,
// which must be one the node knows.
func accountParams(raw json.RawMessage, cfg interface{ commitment() string }) (solana.PublicKey, *rpcError) {
	addr, rerr := splitParams(raw, cfg)
	if rerr != nil {
		return solana.PublicKey{}, rerr
	}
	return addr, checkCommitment(cfg.commitment())
}

func checkCommitment(c string) *rpcError {
	switch c {
	case "", "processed", "confirmed", "finalized":
		return nil
	}
	return invalidParams("Invalid params: unknown variant `%s`, expected one of `processed`, `confirmed`, `finalized`", c)
}

// encode renders account data as a node does for the requested encoding.
func encode(a Account, cfg accountConfig) (accountJSON, *rpcError) {
	data := a.Data
	if ds := cfg.DataSlice; ds != nil {
		if ds.Offset < 0 || ds.Length < 0 {
			return accountJSON{}, invalidParams("Invalid params: invalid dataSlice")
		}
		start := min(ds.Offset, len(data))
		end := min(start+ds.Length, len(data))
		data = data[start:end]
	}
	enc := cfg.Encoding
	var text string
	switch enc {
	case "", "binary", "base58":
		if len(data) > 128 {
			return accountJSON{}, invalidParams("Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.")
		}
		if enc == "" {
			enc = "base58"
		}
		text = base58.Encode(data)
	case "base64":
		text = base64.StdEncoding.EncodeToString(data)
	default:
		return accountJSON{}, invalidParams("Invalid params: encoding %q is not supported by solanatest", enc)
	}
	return accountJSON{
		Data:       [2]string{text, enc},
		Executable: a.Executable,
		Lamports:   a.Lamports,
		Owner:      a.Owner.String(),
		RentEpoch:  math.MaxUint64,
		Space:      len(a.Data),
	}, nil
}

func (s *Server) context() rpcContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slot++
	return rpcContext{APIVersion: APIVersion, Slot: s.slot}
}

func (s *Server) getAccountInfo(raw json.RawMessage) (any, *rpcError) {
	var cfg accountConfig
	addr, rerr := accountParams(raw, &cfg)
	if rerr != nil {
		return nil, rerr
	}
	s.mu.Lock()
	a, ok := s.accounts[addr]
	s.mu.Unlock()
	ctx := s.context()
	if !ok {
		return withContext{Context: ctx, Value: nil}, nil
	}
	aj, rerr := encode(a, cfg)
	if rerr != nil {
		return nil, rerr
	}
	return withContext{Context: ctx, Value: aj}, nil
}

// getMultipleAccounts answers as the real node: a null for each absent
// account, in the order asked; at most 100 addresses.
func (s *Server) getMultipleAccounts(raw json.RawMessage) (any, *rpcError) {
	var params []json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil || len(params) == 0 || len(params) > 2 {
		return nil, invalidParams("Invalid params")
	}
	var addrs []string
	if err := json.Unmarshal(params[0], &addrs); err != nil {
		return nil, invalidParams("Invalid params: %v", err)
	}
	if len(addrs) > 100 {
		return nil, invalidParams("Too many inputs provided; max 100")
	}
	var cfg accountConfig
	if len(params) == 2 {
		if err := json.Unmarshal(params[1], &cfg); err != nil {
			return nil, invalidParams("Invalid params: %v", err)
		}
	}
	if rerr := checkCommitment(cfg.Commitment); rerr != nil {
		return nil, rerr
	}
	out := make([]*accountJSON, len(addrs))
	for i, a := range addrs {
		pk, err := solana.PublicKeyFromBase58(a)
		if err != nil {
			return nil, invalidParams("Invalid param: Invalid")
		}
		s.mu.Lock()
		acc, ok := s.accounts[pk]
		s.mu.Unlock()
		if !ok {
			continue
		}
		aj, rerr := encode(acc, cfg)
		if rerr != nil {
			return nil, rerr
		}
		out[i] = &aj
	}
	return withContext{Context: s.context(), Value: out}, nil
}

func (s *Server) getProgramAccounts(raw json.RawMessage) (any, *rpcError) {
	var cfg programConfig
	program, rerr := accountParams(raw, &cfg)
	if rerr != nil {
		return nil, rerr
	}
	if len(cfg.Filters) > 4 {
		return nil, invalidParams("Too many filters provided; max 4")
	}
	type match struct {
		filter
		bytes []byte
	}
	matches := make([]match, 0, len(cfg.Filters))
	for _, f := range cfg.Filters {
		m := match{filter: f}
		switch {
		case f.Memcmp != nil && f.DataSize == nil:
			var err error
			switch f.Memcmp.Encoding {
			case "", "base58":
				m.bytes, err = base58.Decode(f.Memcmp.Bytes)
			case "base64":
				m.bytes, err = base64.StdEncoding.DecodeString(f.Memcmp.Bytes)
			default:
				return nil, invalidParams("Invalid params: unknown memcmp encoding %q", f.Memcmp.Encoding)
			}
			if err != nil {
				return nil, invalidParams("Invalid param: invalid memcmp bytes: %v", err)
			}
			if len(m.bytes) > 128 {
				return nil, invalidParams("Invalid param: memcmp bytes too large")
			}
			if f.Memcmp.Offset < 0 {
				return nil, invalidParams("Invalid params: invalid memcmp offset")
			}
		case f.DataSize != nil && f.Memcmp == nil:
		default:
			return nil, invalidParams("Invalid params: a filter is either memcmp or dataSize")
		}
		matches = append(matches, m)
	}

	s.mu.Lock()
	ignore := s.ignoreFilters
	addrs := make([]solana.PublicKey, 0, len(s.accounts))
	for addr := range s.accounts {
		addrs = append(addrs, addr)
	}
	slices.SortFunc(addrs, func(a, b solana.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	accounts := make([]Account, len(addrs))
	for i, addr := range addrs {
		accounts[i] = s.accounts[addr]
	}
	s.mu.Unlock()

	out := []keyedAccountJSON{}
	for i, a := range accounts {
		if !ignore {
			if !a.Owner.Equals(program) {
				continue
			}
			ok := true
			for _, m := range matches {
				switch {
				case m.Memcmp != nil:
					off := m.Memcmp.Offset
					ok = off <= len(a.Data) && len(a.Data)-off >= len(m.bytes) && bytes.Equal(a.Data[off:off+len(m.bytes)], m.bytes)
				case m.DataSize != nil:
					ok = len(a.Data) == *m.DataSize
				}
				if !ok {
					break
				}
			}
			if !ok {
				continue
			}
		}
		aj, rerr := encode(a, cfg.accountConfig)
		if rerr != nil {
			return nil, rerr
		}
		out = append(out, keyedAccountJSON{Account: aj, Pubkey: addrs[i].String()})
	}
	if cfg.WithContext {
		return withContext{Context: s.context(), Value: out}, nil
	}
	return out, nil
}

// SystemProgram is the system program's address, all zeros: the owner of a
// plain wallet, never of a job.
var SystemProgram solana.PublicKey

// NewKey returns a random address, for jobs and runs that tests invent.
func NewKey() solana.PublicKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return solana.PublicKeyFromBytes(priv.Public().(ed25519.PublicKey))
}
