package redisstore

import (
	"context"
	"fmt"
	"strings"

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

// Snapshot implements storage.Walker: Walk, no consistent read (SCAN
// across keys, and across the nodes of a cluster).
func (s *Store) Snapshot(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	return s.Walk(ctx, fn)
}

// ListValues implements storage.ValueLister: ListPage's two commands, the
// HMGET read as a list of strings (not of interfaces, one allocation each),
// each record's header (version and times) skipped rather than parsed, and
// the page's values copied into one buffer, not one allocation each.
func (s *Store) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	lo, hi := lexRange(prefix, after)
	names, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.namesKey(owner), Start: lo, Stop: hi, ByLex: true, Count: int64(limit)}).Result()
	if err != nil || len(names) == 0 {
		return []storage.Secret{}, err
	}
	args := make([]any, 2, 2+len(names))
	args[0], args[1] = "hmget", s.dataKey(owner)
	for _, n := range names {
		args = append(args, n)
	}
	cmd := redis.NewStringSliceCmd(ctx, args...)
	_ = s.c.Process(ctx, cmd)
	recs, err := cmd.Result()
	if err != nil {
		return nil, err
	}
	if len(recs) != len(names) {
		return nil, fmt.Errorf("redis: HMGET of %d names answered %d records", len(names), len(recs))
	}
	// First the values' size, for one buffer of them all.
	size := 0
	for _, rec := range recs {
		if rec == "" {
			continue // deleted between the two reads (a record is never empty)
		}
		v, ok := recordValue(rec)
		if !ok {
			return nil, fmt.Errorf("redis: malformed record for a secret (%d bytes)", len(rec))
		}
		size += len(v)
	}
	buf := make([]byte, 0, size)
	out := make([]storage.Secret, 0, len(names))
	for i, rec := range recs {
		if rec == "" {
			continue
		}
		v, _ := recordValue(rec)
		start := len(buf)
		buf = append(buf, v...)
		out = append(out, storage.Secret{Name: names[i], Value: buf[start:len(buf):len(buf)]})
	}
	return out, nil
}

// recordValue is the value of a data-hash record, after its header of three
// numbers (see decode).
func recordValue(rec string) (string, bool) {
	rest := rec
	for range 3 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return "", false
		}
		rest = rest[i+1:]
	}
	return rest, true
}
