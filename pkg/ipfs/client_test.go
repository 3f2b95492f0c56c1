package ipfs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
)

func newClient(t *testing.T, cfg ipfs.Config) *ipfs.Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := ipfs.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const jobDoc = `{"type":"Github","state":{"nosana/secrets":["pipeline1-ssh-key"]}}`

func TestFetch(t *testing.T) {
	for _, gw := range []string{"", "/", "?pinataGatewayToken=TOKEN"} {
		t.Run("gateway suffix "+gw, func(t *testing.T) {
			g := ipfstest.NewGateway(t)
			c := newClient(t, ipfs.Config{Gateway: g.URL + gw})
			cid := ipfs.CID(g.Add([]byte(jobDoc)))
			doc, err := c.Fetch(context.Background(), cid)
			if err != nil {
				t.Fatal(err)
			}
			if got := ipfs.Grants(doc); len(got) != 1 || got[0] != "pipeline1-ssh-key" {
				t.Errorf("Grants = %q", got)
			}
			if n := g.Requests(cid); n != 1 {
				t.Errorf("gateway saw %d requests for %s, want 1", n, cid)
			}
		})
	}
}

func TestFetchKeepsGatewayQuery(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.String()
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := newClient(t, ipfs.Config{Gateway: srv.URL + "/ipfs/?pinataGatewayToken=T"})
	cid := ipfs.CID(ipfstest.Digest([]byte(`{}`)))
	if _, err := c.Fetch(context.Background(), cid); err != nil {
		t.Fatal(err)
	}
	if want := "/ipfs/" + cid + "?pinataGatewayToken=T"; got != want {
		t.Errorf("requested %s, want %s", got, want)
	}
	if g := c.Gateway(); strings.Contains(g, "pinataGatewayToken") {
		t.Errorf("Gateway() = %s shows the token", g)
	}
}

func TestFetchCache(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	cid := ipfs.CID(g.Add([]byte(jobDoc)))
	for range 3 {
		if _, err := c.Fetch(context.Background(), cid); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Requests(cid); n != 1 {
		t.Errorf("gateway saw %d requests, want 1 (then cache hits)", n)
	}

	// Failures are not cached: a document that appears later is found.
	missing := ipfs.CID(ipfstest.Digest([]byte(`{}`)))
	if _, err := c.Fetch(context.Background(), missing); !errors.Is(err, ipfs.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
	g.Put(missing, []byte(`{}`))
	if _, err := c.Fetch(context.Background(), missing); err != nil {
		t.Fatalf("after the document appeared: %v", err)
	}
	if n := g.Requests(missing); n != 2 {
		t.Errorf("gateway saw %d requests for the late document, want 2", n)
	}
}

func TestFetchCacheBounded(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL, CacheSize: 2})
	a := ipfs.CID(g.Add([]byte(`{"a":1}`)))
	b := ipfs.CID(g.Add([]byte(`{"b":1}`)))
	d := ipfs.CID(g.Add([]byte(`{"d":1}`)))
	ctx := context.Background()
	for _, cid := range []string{a, b, a, d, a, b} { // d evicts b (a was used last); b is fetched again
		if _, err := c.Fetch(ctx, cid); err != nil {
			t.Fatal(err)
		}
	}
	for cid, want := range map[string]int{a: 1, b: 2, d: 1} {
		if n := g.Requests(cid); n != want {
			t.Errorf("%s: %d requests, want %d", cid, n, want)
		}
	}

	off := newClient(t, ipfs.Config{Gateway: g.URL, CacheSize: -1})
	for range 2 {
		if _, err := off.Fetch(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Requests(d); n != 3 {
		t.Errorf("without a cache: %d requests, want 3", n)
	}
}

func TestFetchCoalesces(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	cid := ipfs.CID(g.Add([]byte(jobDoc)))
	g.SetDelay(200 * time.Millisecond)

	// The first caller leaves early; the shared fetch still serves the others.
	impatient, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	wg.Go(func() {
		if _, err := c.Fetch(impatient, cid); !errors.Is(err, ipfs.ErrUnavailable) {
			errs <- errors.New("impatient caller: want ErrUnavailable")
		}
	})
	time.Sleep(5 * time.Millisecond)
	for range 8 {
		wg.Go(func() {
			if _, err := c.Fetch(context.Background(), cid); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := g.Requests(cid); n != 1 {
		t.Errorf("gateway saw %d requests, want 1", n)
	}
}

func TestFetchErrors(t *testing.T) {
	const max = 1 << 10
	big := []byte(`{"x":"` + strings.Repeat("a", max) + `"}`)
	exact := []byte(`{"x":"` + strings.Repeat("a", max-8) + `"}`)
	for _, tc := range []struct {
		name    string
		resp    ipfstest.Response
		want    error
		message string
	}{
		{"not found", ipfstest.Response{Status: 404, Body: []byte("not found")}, ipfs.ErrNotFound, "HTTP 404"},
		{"forbidden", ipfstest.Response{Status: 403, Body: []byte("no")}, ipfs.ErrNotFound, "HTTP 403"},
		{"gone", ipfstest.Response{Status: 410}, ipfs.ErrNotFound, "HTTP 410"},
		{"server error", ipfstest.Response{Status: 500}, ipfs.ErrUnavailable, "HTTP status 500"},
		{"bad gateway", ipfstest.Response{Status: 502}, ipfs.ErrUnavailable, "HTTP status 502"},
		{"gateway timeout", ipfstest.Response{Status: 504}, ipfs.ErrUnavailable, "HTTP status 504"},
		{"rate limited", ipfstest.Response{Status: 429}, ipfs.ErrUnavailable, "HTTP status 429"},
		{"request timeout", ipfstest.Response{Status: 408}, ipfs.ErrUnavailable, "HTTP status 408"},
		{"redirect not followed", ipfstest.Response{Status: 304}, ipfs.ErrUnavailable, "HTTP status 304"},
		{"oversize with length", ipfstest.Response{Body: big}, ipfs.ErrInvalidDocument, "larger than 1 KiB"},
		{"oversize chunked", ipfstest.Response{Body: big, NoLength: true}, ipfs.ErrInvalidDocument, "larger than 1 KiB"},
		{"endless", ipfstest.Response{Body: []byte(`{"x":`), Endless: true}, ipfs.ErrInvalidDocument, "larger than 1 KiB"},
		{"not JSON", ipfstest.Response{Body: []byte("hello"), ContentType: "text/plain"}, ipfs.ErrInvalidDocument, "not a JSON object"},
		{"HTML error page with 200", ipfstest.Response{Body: []byte("<html>busy</html>"), ContentType: "text/html"}, ipfs.ErrInvalidDocument, "HTML"},
		{"JSON array", ipfstest.Response{Body: []byte(`["a","b"]`)}, ipfs.ErrInvalidDocument, "an array"},
		{"JSON string", ipfstest.Response{Body: []byte(`"a"`)}, ipfs.ErrInvalidDocument, "a string"},
		{"JSON null", ipfstest.Response{Body: []byte(`null`)}, ipfs.ErrInvalidDocument, "null"},
		{"truncated JSON", ipfstest.Response{Body: []byte(`{"a":`)}, ipfs.ErrInvalidDocument, "not valid JSON"},
		{"empty body", ipfstest.Response{}, ipfs.ErrInvalidDocument, "empty"},
		{"slow", ipfstest.Response{Body: []byte(`{}`), Delay: 5 * time.Second}, ipfs.ErrUnavailable, "no answer within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ipfstest.NewGateway(t)
			c := newClient(t, ipfs.Config{Gateway: g.URL, MaxSize: max, Timeout: 200 * time.Millisecond})
			cid := ipfs.CID(g.AddResponse(tc.resp))
			start := time.Now()
			_, err := c.Fetch(context.Background(), cid)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %s", elapsed)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ipfs.ErrNotFound, ipfs.ErrInvalidDocument, ipfs.ErrUnavailable} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v is also %v", err, other)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, cid) || !strings.Contains(msg, tc.message) {
				t.Errorf("message %q should name %s and say %q", msg, cid, tc.message)
			}
		})
	}

	t.Run("exactly the cap", func(t *testing.T) {
		g := ipfstest.NewGateway(t)
		c := newClient(t, ipfs.Config{Gateway: g.URL, MaxSize: int64(len(exact))})
		cid := ipfs.CID(g.Add(exact))
		if _, err := c.Fetch(context.Background(), cid); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFetchDefaultCap(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	cid := ipfs.CID(g.Add([]byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)))
	if _, err := c.Fetch(context.Background(), cid); !errors.Is(err, ipfs.ErrInvalidDocument) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("error = %v, want a 1 MiB cap", err)
	}
}

func TestFetchUnreachable(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL + "/ipfs?pinataGatewayToken=SECRET"
	dead.Close()
	c := newClient(t, ipfs.Config{Gateway: url})
	_, err := c.Fetch(context.Background(), ipfs.CID([32]byte{}))
	if !errors.Is(err, ipfs.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error = %v, want ErrUnavailable (connection refused)", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q leaks the gateway token", err)
	}
}

func TestFetchSlowLeaksNoToken(t *testing.T) {
	g := ipfstest.NewGateway(t)
	g.SetDelay(5 * time.Second)
	c := newClient(t, ipfs.Config{Gateway: g.URL + "?pinataGatewayToken=SECRET", Timeout: 100 * time.Millisecond})
	_, err := c.Fetch(context.Background(), ipfs.CID([32]byte{}))
	if !errors.Is(err, ipfs.ErrUnavailable) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error = %v, want ErrUnavailable without the token", err)
	}
}

func TestFetchRejectsBadCID(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	for _, cid := range []string{"", "../secrets", "Qm/../x", "a?b", "a b", "Qm%2F", strings.Repeat("a", 129)} {
		if _, err := c.Fetch(context.Background(), cid); !errors.Is(err, ipfs.ErrInvalidDocument) {
			t.Errorf("Fetch(%q) error = %v, want ErrInvalidDocument", cid, err)
		}
	}
	if n := g.Total(); n != 0 {
		t.Errorf("gateway saw %d requests for invalid CIDs", n)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, gw := range []string{"ftp://x", "nosana.mypinata.cloud/ipfs", "http://", "http://[::1"} {
		if _, err := ipfs.NewClient(ipfs.Config{Gateway: gw}); err == nil {
			t.Errorf("NewClient accepted gateway %q", gw)
		}
	}
	c, err := ipfs.NewClient(ipfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway() != ipfs.DefaultGateway {
		t.Errorf("default gateway = %s", c.Gateway())
	}
}
