package redisstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// pageScript is listScript with a LIMIT: ARGV[3] names at most.
var pageScript = redis.NewScript(`
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
if #names == 0 then return out end
local recs = redis.call('HMGET', KEYS[2], unpack(names))
for j = 1, #names do
	out[#out + 1] = names[j]
	out[#out + 1] = recs[j]
end
return out
`)

// ListPage implements storage.Secrets: List's lexical range, from after on,
// limit names at a time.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	lo, hi := "-", "+"
	if prefix != "" {
		lo = "[" + prefix
		if end, ok := storage.PrefixEnd(prefix); ok {
			hi = "(" + end
		}
	}
	if after != "" {
		lo = "(" + after
	}
	res, err := pageScript.Run(ctx, s.c, []string{s.namesKey(owner), s.dataKey(owner)}, lo, hi, strconv.Itoa(limit)).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return decodePairs(res)
}
