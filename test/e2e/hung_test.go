package e2e_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// storeTimeout is STORE_TIMEOUT of the servers in these tests.
const storeTimeout = time.Second

// TestHungStore: with the store stopped mid-conversation (a redis-server of
// our own under SIGSTOP; PostgreSQL, MySQL and MongoDB behind a proxy that
// stops passing bytes), every /secrets and /login request gets a JSON 503
// within the store timeout instead of no answer, whether the first store
// call is a rate-limit counter (RATE_LIMIT_SYNC=0), a nonce, a read or a
// write; once the store answers again, so does the server.
func TestHungStore(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		rs := fault.StartRedis(t)
		hangTest(t, rs.URI(0), rs.Freeze, rs.Thaw)
	})
	for _, name := range []string{"postgres", "mysql", "mongodb"} {
		t.Run(name, func(t *testing.T) {
			u, err := url.Parse(storagetest.URI(t, name))
			if err != nil {
				t.Fatal(err)
			}
			p := fault.StartFreezer(t, u.Host)
			u.Host = p.Addr
			hangTest(t, u.String(), p.Freeze, p.Thaw)
		})
	}
}

func hangTest(t *testing.T, uri string, stop, resume func()) {
	cfg := testserver.Config(uri)
	cfg["STORE_TIMEOUT"] = storeTimeout.String()
	cfg["PUBLIC_URL"] = replicaURL
	cfg["RATE_LIMIT_SYNC"] = "0"
	limited := api{t, testserver.Start(t, cfg).URL}
	for _, k := range []string{"RATE_LIMIT_LOGIN_IP", "RATE_LIMIT_LOGIN_ADDRESS", "RATE_LIMIT_SECRETS_IP", "RATE_LIMIT_SECRETS_ADDRESS"} {
		cfg[k] = "0"
	}
	unlimited := api{t, testserver.Start(t, cfg).URL}

	w := authtest.NewWallet()
	tokL, tokU := limited.login(w), unlimited.login(w)
	if r := unlimited.do("POST", "/secrets", tokU, `{"secrets":{"k":"v"}}`); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}

	type call struct {
		name         string
		a            api
		method, path string
		tok          string
		body         any
	}
	calls := []call{
		{"limited list", limited, "GET", "/secrets", tokL, nil},
		{"limited get", limited, "GET", "/secrets/k", tokL, nil},
		{"limited set", limited, "POST", "/secrets", tokL, `{"secrets":{"k2":"v"}}`},
		{"limited legacy login", limited, "POST", "/login", "", w.LegacyLogin(time.Now().Unix())},
		{"list", unlimited, "GET", "/secrets", tokU, nil},
		{"get", unlimited, "GET", "/secrets/k", tokU, nil},
		{"set", unlimited, "POST", "/secrets", tokU, `{"secrets":{"k2":"v"}}`},
		{"delete", unlimited, "DELETE", "/secrets", tokU, `{"key":"k"}`},
		{"siws login", unlimited, "POST", "/login", "", w.SIWSLogin(replicaURL)},
	}
	stop()
	frozeAt := time.Now()
	stopped := true
	defer func() {
		if stopped {
			resume()
		}
	}()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := hungDo(c.a.url, c.method, c.path, c.tok, c.body)
			took := time.Since(start)
			switch {
			case err != nil:
				t.Errorf("%s: no answer after %s: %v", c.name, took.Round(time.Millisecond), err)
			case r.status != http.StatusServiceUnavailable:
				t.Errorf("%s: %d %s, want 503", c.name, r.status, r.body)
			case r.header.Get("Content-Type") != "application/json" && r.header.Get("Content-Type") != "application/json; charset=UTF-8":
				t.Errorf("%s: Content-Type %q", c.name, r.header.Get("Content-Type"))
			case took > storeTimeout+2*time.Second:
				t.Errorf("%s: 503 after %s, want it within the store timeout (%s)", c.name, took, storeTimeout)
			default:
				if typ := r.field(t, "type"); typ != "InternalServerError" {
					t.Errorf("%s: type %q: %s", c.name, typ, r.body)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("all answered in %s", time.Since(frozeAt).Round(time.Millisecond))

	resume()
	stopped = false
	for _, a := range []api{limited, unlimited} {
		testserver.WaitReady(t, a.url, 30*time.Second, nil)
	}
	// (A write cut short may still land once the store resumes: a timeout
	// says nothing about that; a new one must work.)
	if r := unlimited.do("POST", "/secrets", tokU, `{"secrets":{"after":"v"}}`); r.status != 200 {
		t.Fatalf("write after the store came back: %d %s", r.status, r.body)
	}
	if r := unlimited.do("GET", "/secrets/after", tokU, nil); r.status != 200 {
		t.Fatalf("read after the store came back: %d %s", r.status, r.body)
	}
	if r := limited.do("GET", "/secrets", tokL, nil); r.status != 200 {
		t.Fatalf("after the store came back: %d %s", r.status, r.body)
	}
}

var hungClient = &http.Client{Timeout: 10 * storeTimeout}

// hungDo is one request that may get no answer (then an error).
func hungDo(base, method, path, tok string, body any) (reply, error) {
	r, err := testserver.TryDo(hungClient, method, base+path, tok, body)
	if err != nil {
		return reply{}, err
	}
	return reply{r.Status, r.Header, r.Body}, nil
}
