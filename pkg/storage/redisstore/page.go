package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// ListPage implements storage.Secrets: List's lexical range, from after on,
// limit names at a time: ZRANGEBYLEX … LIMIT, then one HMGET. Two native
// commands cost Redis a seventh of the script that did both (whose time
// went to converting 2 × limit strings to Lua and back), so a server's
// listings no longer queue behind Redis.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	lo, hi := lexRange(prefix, after)
	names, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.namesKey(owner), Start: lo, Stop: hi, ByLex: true, Count: int64(limit)}).Result()
	if err != nil || len(names) == 0 {
		return []storage.Secret{}, err
	}
	recs, err := s.c.HMGet(ctx, s.dataKey(owner), names...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]storage.Secret, 0, len(names))
	for i, r := range recs {
		rec, ok := r.(string)
		if !ok {
			continue // deleted between the two reads
		}
		sec, err := decode(names[i], rec)
		if err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, nil
}
