package redisstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func open(ctx context.Context, uri string) (storage.Store, error) { return redisstore.Open(ctx, uri) }

func TestRedis(t *testing.T) { storagetest.Run(t, storagetest.Open(t, "redis", open)) }

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
