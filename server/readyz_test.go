package server_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/fault"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/sqlstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
	"github.com/nosana-ci/nosana-secrets/server"
)

// probeWithin asserts that /readyz says 200 while st answers, and 503
// once hang has made it stop answering, within the probe's 2 s deadline
// plus 1 s for a loaded machine (a store that ignores the deadline takes
// its own read timeout: 10 s on Redis before ContextTimeoutEnabled).
func probeWithin(t *testing.T, st storage.Store, hang func()) {
	t.Helper()
	e := newEnv(t, func(o *server.Options) { o.Store = st })
	if r := e.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("/readyz before the hang = %d %s", r.status, r.body)
	}
	hang()
	start := time.Now()
	r := e.do("GET", "/readyz", "", nil)
	took := time.Since(start)
	if r.status != 503 {
		t.Fatalf("/readyz on a hung store = %d %s", r.status, r.body)
	}
	if took > 3*time.Second {
		t.Fatalf("/readyz took %v to say 503 on a hung store; want about 2s", took)
	}
}

// TestReadyzHungRedis stops a redis-server of its own with SIGSTOP: go-redis
// ignores the probe's deadline unless the client is told to honour it.
func TestReadyzHungRedis(t *testing.T) {
	redis := fault.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.Open(ctx, redis.URI(0))
	if err != nil {
		t.Fatalf("redis-server at %s: %v", redis.Addr, err)
	}
	t.Cleanup(func() { st.Close() })
	probeWithin(t, st, redis.Freeze)
}

// TestReadyzHungStore puts each shared test database behind a TCP proxy
// that stops passing bytes, as a stopped server does (those servers are
// shared, so they are not SIGSTOPped here).
func TestReadyzHungStore(t *testing.T) {
	for _, backend := range []string{"postgres", "mysql", "redis", "mongodb"} {
		t.Run(backend, func(t *testing.T) {
			u, err := url.Parse(storagetest.URI(t, backend))
			if err != nil {
				t.Fatal(err)
			}
			r := fault.StartFreezer(t, u.Host)
			u.Host = r.Addr
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := openBackend(ctx, backend, u.String())
			if err != nil {
				t.Fatalf("opening %s through the proxy: %v", backend, err)
			}
			t.Cleanup(func() { st.Close() })
			probeWithin(t, st, r.Freeze)
		})
	}
}

// openBackend opens the bare backend store: the probe only pings it.
func openBackend(ctx context.Context, backend, uri string) (storage.Store, error) {
	switch backend {
	case "redis":
		return redisstore.Open(ctx, uri)
	case "mongodb":
		return mongostore.Open(ctx, uri)
	default:
		return sqlstore.Open(ctx, uri)
	}
}
