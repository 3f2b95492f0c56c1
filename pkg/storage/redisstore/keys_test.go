package redisstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestKeysSpread: an owner's keys share one slot; nonces and counters do
// not, even when the caller's part holds a hash tag of its own. Slots are
// the cluster's own answer (CLUSTER KEYSLOT).
func TestKeysSpread(t *testing.T) {
	cfg, err := Parse(storagetest.URI(t, "redis_cluster"))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClusterClient(cfg.Cluster)
	defer c.Close()
	ctx := context.Background()
	slot := func(key string) int64 {
		n, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := New(c, DefaultPrefix)
	if a, b := slot(s.namesKey("owner")), slot(s.dataKey("owner")); a != b {
		t.Errorf("an owner's keys are in slots %d and %d", a, b)
	}
	nonces, counters := map[int64]bool{}, map[int64]bool{}
	for i := 0; i < 50; i++ {
		nonces[slot(s.nonceKey(fmt.Sprintf("addr%d:{same}", i)))] = true
		counters[slot(s.counterKey(fmt.Sprintf("secrets:ip:{10.0.0.%d}", i)))] = true
	}
	if len(nonces) < 40 || len(counters) < 40 {
		t.Errorf("50 nonces fall in %d slots, 50 counters in %d: a hash tag gathers them", len(nonces), len(counters))
	}
	if s.nonceKey("a{b") == s.nonceKey("a%7Bb") {
		t.Error("escaping makes two nonces one key")
	}
}
