// Package ipfstest runs a fake IPFS HTTP gateway for tests. It serves
// documents by CID under /ipfs/, counts requests per CID, and can answer
// with any status, slowly, oversize or endlessly.
package ipfstest

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
)

// Response is what the gateway answers for one CID.
type Response struct {
	Status      int    // 0 means 200
	Body        []byte // sent with a Content-Length unless NoLength
	ContentType string // "" means application/json
	NoLength    bool   // stream Body chunked, without a Content-Length
	Endless     bool   // after Body, send '{' until the client hangs up
	Delay       time.Duration
}

// Gateway is a fake gateway. Its methods are safe for concurrent use.
type Gateway struct {
	// URL is the gateway base, ending in /ipfs (what IPFS_GATEWAY holds).
	URL string

	srv *httptest.Server

	mu      sync.Mutex
	docs    map[string]Response
	hits    map[string]int
	total   int
	delay   time.Duration
	failure int
}

// NewGateway starts a Gateway that tb closes at cleanup.
func NewGateway(tb testing.TB) *Gateway {
	tb.Helper()
	g := &Gateway{docs: map[string]Response{}, hits: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = g.srv.URL + "/ipfs"
	tb.Cleanup(g.Close)
	return g
}

// Close stops the gateway; later requests fail to connect.
func (g *Gateway) Close() { g.srv.Close() }

// Set makes the gateway answer r for cid.
func (g *Gateway) Set(cid string, r Response) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.docs[cid] = r
}

// Put serves body with status 200 under cid.
func (g *Gateway) Put(cid string, body []byte) { g.Set(cid, Response{Body: body}) }

// Add serves body under the CID of its sha256 digest and returns the digest,
// ready to be stored in a job account.
func (g *Gateway) Add(body []byte) [32]byte {
	d := sha256.Sum256(body)
	g.Put(ipfs.CID(d), body)
	return d
}

// AddJSON is Add of v marshalled to JSON.
func (g *Gateway) AddJSON(tb testing.TB, v any) [32]byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return g.Add(b)
}

// Requests returns how many requests asked for cid.
func (g *Gateway) Requests(cid string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[cid]
}

// Total returns how many requests the gateway received.
func (g *Gateway) Total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// SetDelay makes every answer wait d (or until the client hangs up).
func (g *Gateway) SetDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay = d
}

// SetFailure makes every answer the given HTTP status (0 to stop).
func (g *Gateway) SetFailure(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failure = status
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	cid, ok := strings.CutPrefix(r.URL.Path, "/ipfs/")
	if !ok || cid == "" || strings.Contains(cid, "/") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	g.mu.Lock()
	g.total++
	g.hits[cid]++
	resp, found := g.docs[cid]
	delay, failure := g.delay+resp.Delay, g.failure
	g.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if failure != 0 {
		http.Error(w, http.StatusText(failure), failure)
		return
	}
	if !found {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	if !resp.NoLength && !resp.Endless {
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if resp.NoLength {
		// Flushing the header first makes the body chunked.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if _, err := w.Write(resp.Body); err != nil || !resp.Endless {
		return
	}
	chunk := []byte(strings.Repeat("{", 32<<10))
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
}
