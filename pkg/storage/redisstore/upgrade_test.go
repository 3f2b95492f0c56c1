package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func rawClient(t *testing.T, uri string) *redis.Client {
	t.Helper()
	opts, _, err := redisstore.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUpgradeFromLayout1 writes what the release before history left in
// Redis (names and data, records "<version>:<created>:<updated>:<value>",
// no schema record) and opens it: the secrets read as before and as their
// current versions, writes continue their numbering, the usage of each
// owner is counted, and the layout is recorded as version 3.
func TestUpgradeFromLayout1(t *testing.T) {
	ctx := context.Background()
	uri := storagetest.URI(t, "redis")
	prefix := storagetest.Unique("up") + ":"
	raw := rawClient(t, uri)
	owner, other := storagetest.Unique("o-"), storagetest.Unique("o-")
	for o, recs := range map[string]map[string]string{
		owner: {"a": "3:1700000000000000:1700000500000000:sealed-a", "b/c": "1:1700000000000000:1700000000000000:bc"},
		other: {"x": "7:1700000000000000:1700000900000000:" + strings.Repeat("v", 100)},
	} {
		for name, rec := range recs {
			raw.HSet(ctx, prefix+"{"+o+"}:data", name, rec)
			raw.ZAdd(ctx, prefix+"{"+o+"}:names", redis.Z{Member: name})
		}
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	puri := uri + sep + redisstore.PrefixParam + "=" + prefix
	s, err := redisstore.Open(ctx, puri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(ctx, redisstore.SchemaKey); err != nil || string(v) != "3" {
		t.Fatalf("schema version after open: %q, %v", v, err)
	}
	for o, want := range map[string]storage.Usage{owner: {Secrets: 2, Bytes: int64(len("sealed-a") + len("bc"))}, other: {Secrets: 1, Bytes: 100}} {
		if got, err := s.Usage(ctx, o); err != nil || got != want {
			t.Errorf("usage of an owner after the upgrade: %+v, %v; want %+v", got, err, want)
		}
	}
	sec, err := s.Get(ctx, owner, "a")
	if err != nil || string(sec.Value) != "sealed-a" || sec.Version != 3 || !sec.UpdatedAt.Equal(time.UnixMicro(1700000500000000)) {
		t.Fatalf("Get after the upgrade: %+v, %v", sec, err)
	}
	if page, err := s.ListPage(ctx, owner, "", "", 10); err != nil || len(page) != 2 || page[1].Name != "b/c" {
		t.Errorf("ListPage after the upgrade: %+v, %v", page, err)
	}
	if v, err := s.GetVersion(ctx, owner, "a", 0); err != nil || v.Version != 3 || string(v.Value) != "sealed-a" {
		t.Errorf("the current version of an old secret: %+v, %v", v, err)
	}
	if vs, err := s.Versions(ctx, owner, "a"); err != nil || len(vs) != 1 || vs[0].Version != 3 {
		t.Errorf("the versions of an old secret: %+v, %v", vs, err)
	}
	got, err := s.Commit(ctx, storage.Commit{Owner: owner, Changes: []storage.Change{{Name: "a", Value: []byte("new"), CAS: 3}}})
	if err != nil || got[0] != 4 {
		t.Fatalf("a check-and-set write on an old secret: %v, %v", got, err)
	}
	if u, _ := s.Usage(ctx, owner); u != (storage.Usage{Secrets: 2, Bytes: int64(len("new") + len("bc"))}) {
		t.Errorf("usage after the first versioned write: %+v", u)
	}
	// A second open finds the layout current and counts nothing again.
	raw.HSet(ctx, prefix+"{"+owner+"}:usage", "secrets", 99)
	s2, err := redisstore.Open(ctx, puri)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if u, _ := s.Usage(ctx, owner); u.Secrets != 99 {
		t.Errorf("a second open recounted: %+v", u)
	}
	// A layout newer than this program refuses to open.
	raw.Set(ctx, prefix+"meta:"+redisstore.SchemaKey, "4", 0)
	_, err = redisstore.Open(ctx, puri)
	if err == nil || !strings.Contains(err.Error(), "upgrade nosana-secrets") {
		t.Errorf("a newer layout: %v", err)
	}
	if errors.Is(err, storage.ErrNotFound) {
		t.Error("wrong error")
	}
}
