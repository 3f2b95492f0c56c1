package migrate

import (
	"context"
	"hash/maphash"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
)

// redisSource reads @keyv/redis's layout: a string key per record, its
// value the envelope, plus a set namespace:<address> per owner listing
// the record keys. The sets are not trusted for the listing (the
// original's own listing lost keys): a full SCAN, to the end of the
// cursor, finds every string key.
type redisSource struct {
	c *redis.Client
}

// scanCount is the SCAN hint and so the MGET size per round trip.
const scanCount = 1000

func openRedis(ctx context.Context, uri string) (Source, error) {
	opts, _, err := redisstore.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	opts.DisableIdentity = true
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	return &redisSource{c: c}, nil
}

// Count is the number of keys in the database, the namespace sets
// included: an estimate that is close for progress.
func (s *redisSource) Count(ctx context.Context) (int64, error) { return s.c.DBSize(ctx).Result() }

// Each visits the string keys in SCAN order. SCAN may return a key twice
// (while the server rehashes); a key is passed to fn once.
func (s *redisSource) Each(ctx context.Context, fn func(key string, stored []byte) error) error {
	seed := maphash.MakeSeed()
	seen := map[uint64]struct{}{}
	var cursor uint64
	for {
		keys, next, err := s.c.Scan(ctx, cursor, "*", scanCount).Result()
		if err != nil {
			return err
		}
		todo := keys[:0]
		for _, k := range keys {
			h := maphash.String(seed, k)
			if _, dup := seen[h]; dup {
				continue
			}
			seen[h] = struct{}{}
			todo = append(todo, k)
		}
		if len(todo) > 0 {
			vals, err := s.c.MGet(ctx, todo...).Result()
			if err != nil {
				return err
			}
			for i, v := range vals {
				// nil: a namespace set (not a string), or gone since SCAN
				str, ok := v.(string)
				if !ok {
					continue
				}
				if err := fn(todo[i], []byte(str)); err != nil {
					return err
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (s *redisSource) Close() error { return s.c.Close() }
