package server_test

import (
	"context"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"syscall"
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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if storagetest.InCI() {
			t.Fatal("redis-server is not installed, and CI is set")
		}
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	var st storage.Store
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err = redisstore.Open(ctx, "redis://127.0.0.1:"+port+"/0")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %s: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the server to listen
	}
	t.Cleanup(func() { st.Close() })
	probeWithin(t, st, func() {
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	})
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

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
