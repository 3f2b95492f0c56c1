// Package ipfstest runs a fake IPFS HTTP gateway for tests. It serves
// documents by CID under /ipfs/, counts requests per CID, and can answer
// with any status, slowly, oversize, endlessly, or with another document
// than the CID names.
package ipfstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	chunker "github.com/ipfs/boxo/chunker"
	mdtest "github.com/ipfs/boxo/ipld/merkledag/test"
	"github.com/ipfs/boxo/ipld/unixfs/importer"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
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

	// Injector gives the gateway SetDelay, and SetFailure: every answer
	// the given HTTP status (0 to stop).
	fault.Injector[int]

	srv *httptest.Server

	mu    sync.Mutex
	docs  map[string]Response
	hits  map[string]int
	total int
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

// Put serves body with status 200 under cid, whatever cid names: Put of
// another body under a CID that Add returned swaps the document.
func (g *Gateway) Put(cid string, body []byte) { g.Set(cid, Response{Body: body}) }

// Add serves body under its real CID and returns the digest, ready to be
// stored in a job account.
func (g *Gateway) Add(body []byte) [32]byte { return g.AddResponse(Response{Body: body}) }

// AddResponse answers r under the real CID of r.Body and returns the digest.
func (g *Gateway) AddResponse(r Response) [32]byte {
	d := Digest(r.Body)
	g.Set(ipfs.CID(d), r)
	return d
}

// Digest returns the digest under which an IPFS importer stores data (the
// sha256 of its root dag-pb node; ipfs.CID makes the CID of it), computed
// by the importer of github.com/ipfs/boxo with the defaults of `ipfs add`:
// 256 KiB chunks, a balanced tree, dag-pb leaves, CIDv0.
func Digest(data []byte) [32]byte {
	nd, err := importer.BuildDagFromReader(mdtest.Mock(), chunker.DefaultSplitter(bytes.NewReader(data)))
	if err != nil {
		panic("ipfstest: import: " + err.Error()) // an in-memory import does not fail
	}
	mh := nd.Cid().Hash()
	if nd.Cid().Version() != 0 || len(mh) != 34 {
		panic("ipfstest: import did not make a CIDv0: " + nd.Cid().String())
	}
	return [32]byte(mh[2:])
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
	g.mu.Unlock()

	failure, ok := g.Wait(r.Context(), resp.Delay)
	if !ok {
		return
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
