package redisstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func open(ctx context.Context, uri string) (storage.Store, error) { return redisstore.Open(ctx, uri) }

func TestRedis(t *testing.T) { storagetest.Run(t, storagetest.Open(t, "redis", open)) }

// TestRedisHistory runs the history, maintenance and quota suites on one
// server, a cluster (each owner's keys in one slot) and a cluster with
// every write followed by WAIT 1 (each write script on its pinned
// connection).
func TestRedisHistory(t *testing.T) {
	for _, c := range []struct {
		name, backend string
		o             redisstore.Options
	}{
		{"single", "redis", redisstore.Options{}},
		{"cluster", "redis_cluster", redisstore.Options{}},
		{"cluster_wait", "redis_cluster", redisstore.Options{WaitReplicas: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			open := func(ctx context.Context, uri string) (storage.Store, error) {
				return redisstore.OpenWith(ctx, uri, c.o)
			}
			s := storagetest.Open(t, c.backend, open)
			storagetest.RunHistory(t, s)
			storagetest.RunHistoryAdmin(t, s)
			// RunQuota sets the store's quota: a store of its own.
			storagetest.RunQuota(t, storagetest.Open(t, c.backend, open))
		})
	}
}

// TestRedisKeyPrefix runs the suite again under a key prefix of its own,
// one with SCAN pattern characters in it.
func TestRedisKeyPrefix(t *testing.T) {
	uri := storagetest.URI(t, "redis")
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	uri += sep + redisstore.PrefixParam + "=" + storagetest.Unique("t*[x]?:")
	storagetest.Run(t, storagetest.Open(t, "redis", func(ctx context.Context, _ string) (storage.Store, error) {
		return redisstore.Open(ctx, uri)
	}))
}

func TestParseURI(t *testing.T) {
	opts, prefix, err := redisstore.ParseURI("rediss://user:p%40ss@cache.example:6380/3?key_prefix=app:&dial_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr != "cache.example:6380" || opts.DB != 3 || opts.Username != "user" || opts.Password != "p@ss" || opts.TLSConfig == nil || prefix != "app:" {
		t.Fatalf("got addr %s db %d user %q tls %v prefix %q", opts.Addr, opts.DB, opts.Username, opts.TLSConfig != nil, prefix)
	}
	if _, prefix, _ := redisstore.ParseURI("redis://localhost"); prefix != redisstore.DefaultPrefix {
		t.Fatalf("default prefix %q", prefix)
	}
	for _, bad := range []string{"redis://:se%zzcret@host", "redis:///0", "redis://host/x", "redis://host/0?key_prefix={a}", "http://host"} {
		_, _, err := redisstore.ParseURI(bad)
		if err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "se%zzcret") || strings.Contains(err.Error(), "cret") {
			t.Errorf("ParseURI(%q) error shows the password: %v", bad, err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	storagetest.BenchmarkGet(b, storagetest.Open(b, "redis", open))
}

func BenchmarkList(b *testing.B) {
	storagetest.BenchmarkList(b, storagetest.Open(b, "redis", open))
}

func TestRedisCluster(t *testing.T) {
	storagetest.Run(t, storagetest.Open(t, "redis_cluster", open))
}

func TestRedisSentinel(t *testing.T) {
	storagetest.Run(t, storagetest.Open(t, "redis_sentinel", open))
}

// TestRedisClusterWait runs the suite with every write followed by WAIT 1:
// each write path works on its pinned connection.
func TestRedisClusterWait(t *testing.T) {
	storagetest.Run(t, storagetest.Open(t, "redis_cluster", func(ctx context.Context, uri string) (storage.Store, error) {
		return redisstore.OpenWith(ctx, uri, redisstore.Options{WaitReplicas: 1})
	}))
}

// TestWaitTooManyReplicas: a write that cannot reach as many replicas as
// asked fails with ErrUnavailable (a 503) once the WAIT timeout is over,
// on one server (no replica), a cluster and a sentinel group (one each).
func TestWaitTooManyReplicas(t *testing.T) {
	for backend, n := range map[string]int{"redis": 1, "redis_cluster": 2, "redis_sentinel": 2} {
		t.Run(backend, func(t *testing.T) {
			s := storagetest.Open(t, backend, func(ctx context.Context, uri string) (storage.Store, error) {
				return redisstore.OpenWith(ctx, uri, redisstore.Options{WaitReplicas: n, WaitTimeout: 200 * time.Millisecond})
			})
			ctx := context.Background()
			owner := storagetest.Unique("wait-")
			start := time.Now()
			err := s.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte("v")}})
			if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "WAIT") {
				t.Fatalf("Put with WAIT %d: %v", n, err)
			}
			if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
				t.Errorf("Put took %s, want about the 200ms WAIT timeout", d)
			}
			if _, err := s.UseNonce(ctx, storagetest.Unique("n"), time.Now().Add(time.Minute)); !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("UseNonce with WAIT %d: %v", n, err)
			}
			// Counters are not waited for.
			if _, err := s.Incr(ctx, storagetest.Unique("c"), 1, time.Now().Add(time.Minute)); err != nil {
				t.Errorf("Incr: %v", err)
			}
		})
	}
}

// TestDownIsUnavailable: a server that does not answer is ErrUnavailable
// (a 503), on every kind.
func TestDownIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, uri := range []string{"redis://" + addr, "redis+cluster://" + addr, "redis+sentinel://" + addr + "/m"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := redisstore.Open(ctx, uri+"?dial_timeout=1s&max_retries=-1")
		cancel()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Open(%s) = %v, want ErrUnavailable", uri, err)
		}
	}
}
