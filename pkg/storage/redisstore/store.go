// Package redisstore implements storage.Store on Redis (go-redis v9).
//
// Layout, with the default key prefix "nosana:":
//
//	nosana:{<owner>}:names  sorted set of the owner's names, all scores 0,
//	                        so ZRANGEBYLEX lists a prefix as a range
//	nosana:{<owner>}:data   hash name → "<version>:<created µs>:<updated µs>:<value>"
//	nosana:nonce:<nonce>    used sign-in nonces (SET NX with expiry)
//	nosana:ctr:<key>        rate-limit counters (INCRBY, expiry set once)
//	nosana:meta:<key>       meta records
//
// The {owner} hash tag keeps an owner's keys in one cluster slot, so the
// scripts and transactions that touch them stay valid on a Redis Cluster;
// nonces, counters and meta records have no tag and spread over the
// slots. Put is one Lua
// script (it reads the old version), Delete one MULTI/EXEC, List one Lua
// script whose cost grows with the result. Redis runs a script to the end
// without interleaving, but does not roll it back if it fails half-way
// (out of memory): the store validates a batch before sending it.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// DefaultPrefix starts every key this store writes.
const DefaultPrefix = "nosana:"

// PrefixParam is the URI query parameter that overrides DefaultPrefix,
// e.g. redis://host:6379/0?key_prefix=test: (tests use it to isolate).
const PrefixParam = "key_prefix"

const (
	hmgetChunk = 1000 // names per HMGET
	walkPage   = 100
)

// Store is a storage.Store on Redis: one server, a cluster or a
// sentinel-managed primary.
type Store struct {
	c           redis.UniversalClient
	prefix      string
	wait        int           // WAIT for this many replicas after each write
	waitTimeout time.Duration // and this long at most
}

var _ storage.Store = (*Store)(nil)

// New wraps a client; every key starts with prefix.
func New(c redis.UniversalClient, prefix string) *Store { return &Store{c: c, prefix: prefix} }

func (s *Store) namesKey(owner string) string { return s.prefix + "{" + owner + "}:names" }
func (s *Store) dataKey(owner string) string  { return s.prefix + "{" + owner + "}:data" }

// micros is the store's clock: microseconds since the epoch, UTC.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// decode parses a data-hash record.
func decode(name, rec string) (storage.Secret, error) {
	var f [3]int64
	rest := rec
	for i := range f {
		n, tail, ok := strings.Cut(rest, ":")
		if !ok {
			return storage.Secret{}, fmt.Errorf("redis: malformed record for a secret (%d bytes)", len(rec))
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return storage.Secret{}, fmt.Errorf("redis: malformed record header for a secret")
		}
		f[i], rest = v, tail
	}
	return storage.Secret{
		Name:      name,
		Value:     []byte(rest),
		Version:   f[0],
		CreatedAt: time.UnixMicro(f[1]).UTC(),
		UpdatedAt: time.UnixMicro(f[2]).UTC(),
	}, nil
}

// Get implements storage.Store: one HGET.
func (s *Store) Get(ctx context.Context, owner, name string) (storage.Secret, error) {
	rec, err := s.c.HGet(ctx, s.dataKey(owner), name).Result()
	if errors.Is(err, redis.Nil) {
		return storage.Secret{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Secret{}, err
	}
	return decode(name, rec)
}

// GetMany implements storage.Store: HMGETs in one pipeline.
func (s *Store) GetMany(ctx context.Context, owner string, names []string) ([]storage.Secret, error) {
	pipe := s.c.Pipeline()
	var cmds []*redis.SliceCmd
	var parts [][]string
	for start := 0; start < len(names); start += hmgetChunk {
		part := names[start:min(start+hmgetChunk, len(names))]
		parts = append(parts, part)
		cmds = append(cmds, pipe.HMGet(ctx, s.dataKey(owner), part...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]storage.Secret, 0, len(names))
	for i, cmd := range cmds {
		for j, v := range cmd.Val() {
			rec, ok := v.(string)
			if !ok {
				continue
			}
			sec, err := decode(parts[i][j], rec)
			if err != nil {
				return nil, err
			}
			out = append(out, sec)
		}
	}
	return out, nil // names were sorted
}

// listScript returns name, record pairs of the names in a lex range, in
// order. HMGET is chunked: Lua's unpack has a stack limit.
var listScript = redis.NewScript(`
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for i = 1, #names, 1000 do
	local chunk = {}
	for j = i, math.min(i + 999, #names) do chunk[#chunk + 1] = names[j] end
	local recs = redis.call('HMGET', KEYS[2], unpack(chunk))
	for j = 1, #chunk do
		out[#out + 1] = chunk[j]
		out[#out + 1] = recs[j]
	end
end
return out
`)

// List implements storage.Store: ZRANGEBYLEX [prefix (PrefixEnd(prefix),
// and the records, in one script.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	lo, hi := "-", "+"
	if prefix != "" {
		lo = "[" + prefix
		if end, ok := storage.PrefixEnd(prefix); ok {
			hi = "(" + end
		}
	}
	res, err := listScript.Run(ctx, s.c, []string{s.namesKey(owner), s.dataKey(owner)}, lo, hi).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return decodePairs(res)
}

// decodePairs decodes name, record pairs; a name without a record (which
// the scripts never leave behind) is skipped.
func decodePairs(res []any) ([]storage.Secret, error) {
	out := make([]storage.Secret, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		name, _ := res[i].(string)
		rec, ok := res[i+1].(string)
		if !ok {
			continue
		}
		sec, err := decode(name, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, nil
}

// putScript upserts name/value pairs: version 1 on insert, +1 on
// overwrite, created kept. ARGV[1] is now in µs.
var putScript = redis.NewScript(`
local now = ARGV[1]
for i = 2, #ARGV, 2 do
	local name = ARGV[i]
	local ver, created = 1, now
	local old = redis.call('HGET', KEYS[2], name)
	if old then
		local v, c = string.match(old, '^(%d+):(%d+):')
		ver, created = tonumber(v) + 1, c
	end
	redis.call('HSET', KEYS[2], name, string.format('%d', ver) .. ':' .. created .. ':' .. now .. ':' .. ARGV[i + 1])
	redis.call('ZADD', KEYS[1], 0, name)
end
return 1
`)

// Put implements storage.Store: one script, so the batch is applied whole
// and no other command sees half of it.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	args := make([]any, 0, 1+2*len(items))
	args = append(args, micros(time.Now()))
	for _, it := range items {
		args = append(args, it.Name, it.Value)
	}
	c, end, err := s.writer(ctx, s.dataKey(owner))
	if err != nil {
		return err
	}
	return end(putScript.Run(ctx, c, []string{s.namesKey(owner), s.dataKey(owner)}, args...).Err())
}

// Delete implements storage.Store: ZREM and HDEL in one MULTI/EXEC.
func (s *Store) Delete(ctx context.Context, owner string, names []string) error {
	members := make([]any, len(names))
	for i, n := range names {
		members[i] = n
	}
	c, end, err := s.writer(ctx, s.dataKey(owner))
	if err != nil {
		return err
	}
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.namesKey(owner), members...)
		p.HDel(ctx, s.dataKey(owner), names...)
		return nil
	})
	return end(err)
}

// swapScript replaces the value part of a record if it equals ARGV[2].
var swapScript = redis.NewScript(`
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local hdr = string.match(rec, '^%d+:%d+:%d+:')
if not hdr or string.sub(rec, #hdr + 1) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], hdr .. ARGV[3])
return 1
`)

// Swap implements storage.Store.
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	c, end, err := s.writer(ctx, s.dataKey(owner))
	if err != nil {
		return false, err
	}
	n, err := swapScript.Run(ctx, c, []string{s.dataKey(owner)}, name, old, new).Int()
	return n == 1, end(err)
}

// Walk implements storage.Store: SCAN on every primary finds the owners,
// then each owner's names are read in pages (ZRANGEBYLEX … LIMIT) with
// their records, so no secret is visited twice and fn may write.
func (s *Store) Walk(ctx context.Context, fn func(owner string, s storage.Secret) error) error {
	head, tail := s.prefix+"{", "}:names"
	owners := map[string]struct{}{}
	err := s.scanKeys(ctx, globEscape(head)+"*"+globEscape(tail), func(k string) {
		if strings.HasPrefix(k, head) && strings.HasSuffix(k, tail) && len(k) >= len(head)+len(tail) {
			owners[k[len(head):len(k)-len(tail)]] = struct{}{}
		}
	})
	if err != nil {
		return err
	}
	for owner := range owners {
		lo := "-"
		for {
			names, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.namesKey(owner), Start: lo, Stop: "+", ByLex: true, Count: walkPage}).Result()
			if err != nil {
				return err
			}
			if len(names) == 0 {
				break
			}
			recs, err := s.c.HMGet(ctx, s.dataKey(owner), names...).Result()
			if err != nil {
				return err
			}
			for i, r := range recs {
				rec, ok := r.(string)
				if !ok {
					continue // deleted since the range was read
				}
				sec, err := decode(names[i], rec)
				if err != nil {
					return err
				}
				if err := fn(owner, sec); err != nil {
					return err
				}
			}
			if len(names) < walkPage {
				break
			}
			lo = "(" + names[len(names)-1]
		}
	}
	return nil
}

// globEscape escapes the characters that SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// UseNonce implements storage.Store: SET NX with the remaining lifetime
// (at least one second, so an already expired nonce still blocks an
// immediate replay). Redis drops the key when it expires.
func (s *Store) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	ttl := max(time.Until(expires), time.Second)
	key := s.nonceKey(nonce)
	c, end, err := s.writer(ctx, key)
	if err != nil {
		return false, err
	}
	ok, err := c.SetNX(ctx, key, 1, ttl).Result()
	return ok, end(err)
}

// incrScript adds ARGV[1] and sets the expiry (ARGV[2], unix ms) only on a
// key that has none, i.e. one INCRBY just created: PEXPIREAT … NX, written
// so that Redis before 7.0 runs it too. A time in the past deletes the key
// at once, so the next increment starts afresh.
var incrScript = redis.NewScript(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return v
`)

// Incr implements storage.Store. Counters are not followed by WAIT: a
// failover may lose a few counts, which only loosens a rate limit.
func (s *Store) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	return incrScript.Run(ctx, s.c, []string{s.counterKey(key)}, n, expires.UnixMilli()).Int64()
}

// nonceKey and counterKey have no hash tag of their own: braces in the
// caller's part are escaped, so each key hashes whole and the keys spread
// over a cluster's slots (and no caller can pick a slot).
func (s *Store) nonceKey(nonce string) string { return s.prefix + "nonce:" + untag(nonce) }
func (s *Store) counterKey(key string) string { return s.prefix + "ctr:" + untag(key) }

// untag replaces { so that a string cannot open a hash tag; % is escaped
// first, so distinct strings stay distinct.
func untag(s string) string {
	if !strings.ContainsAny(s, "{%") {
		return s
	}
	return strings.NewReplacer("%", "%25", "{", "%7B").Replace(s)
}

// GetMeta implements storage.Store.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.Get(ctx, s.prefix+"meta:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, storage.ErrNotFound
	}
	return v, err
}

// InitMeta implements storage.Store: SETNX and GET in one MULTI/EXEC.
func (s *Store) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	k := s.prefix + "meta:" + key
	var get *redis.StringCmd
	c, end, err := s.writer(ctx, k)
	if err != nil {
		return nil, err
	}
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, k, value, 0)
		get = p.Get(ctx, k)
		return nil
	})
	if err = end(err); err != nil {
		return nil, err
	}
	return get.Bytes()
}

// PutMeta implements storage.Store.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	k := s.prefix + "meta:" + key
	c, end, err := s.writer(ctx, k)
	if err != nil {
		return err
	}
	return end(c.Set(ctx, k, value, 0).Err())
}

// Close implements storage.Store.
func (s *Store) Close() error { return s.c.Close() }
