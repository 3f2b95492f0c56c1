// Package redisstore implements storage.Store, storage.History,
// storage.AuditLog and storage.Quotas on Redis (go-redis v9).
//
// Layout, with the default key prefix "nosana:":
//
//	nosana:{<owner>}:names  sorted set of the owner's live names, all scores
//	                        0, so ZRANGEBYLEX lists a prefix as a range
//	nosana:{<owner>}:data   hash name → "<version>:<created µs>:<updated µs>:<value>"
//	nosana:{<owner>}:heads, :vidx, :vers   the versions (see history.go)
//	nosana:{<owner>}:usage  hash secrets, bytes: what the owner keeps
//	nosana:{<owner>}:audit, :ahead         the audit log and its head
//	nosana:{<owner>}:abytes, :aidx  the log's bytes, its key and action
//	                        index (see audit.go)
//	nosana:nonce:<nonce>    used sign-in nonces (SET NX with expiry)
//	nosana:ctr:<key>        rate-limit counters (INCRBY, expiry set once)
//	nosana:meta:<key>       meta records, the layout's version among them
//
// The {owner} hash tag keeps every key of an owner in one cluster slot, so
// each script touches one slot; nonces, counters and meta records have no
// tag and spread over the slots. Maintenance finds owners by SCAN on every
// primary. Each write (Put, Delete, Commit, Destroy, an audit append) is one
// Lua script, which Redis runs to the end without interleaving; it does not
// roll one back that fails half-way (out of memory), so the scripts check
// everything (CAS, quota, audit head) before they write. Every write goes
// through writer, so REDIS_WAIT_REPLICAS covers it. Reads are native
// commands where they can be: Redis spends most of a script's time
// converting its replies.
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
	quota       storage.Quota
	heads       headCache
}

var _ storage.Backend = (*Store)(nil)

// New wraps a client (single node, cluster or sentinel); every key starts
// with prefix. It does not migrate the layout: Open does.
func New(c redis.UniversalClient, prefix string) *Store { return &Store{c: c, prefix: prefix} }

func (s *Store) namesKey(owner string) string { return s.key(owner, keySuffixes[kNames]) }
func (s *Store) dataKey(owner string) string  { return s.key(owner, keySuffixes[kData]) }

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

// List implements storage.Store: ZRANGEBYLEX [prefix (PrefixEnd(prefix),
// then the records by HMGET, in one pipeline of chunks. Native commands,
// not a script: Redis spends most of a script's time converting replies to
// Lua and back. A name deleted between the two reads is skipped.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	lo, hi := lexRange(prefix, "")
	names, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.namesKey(owner), Start: lo, Stop: hi, ByLex: true}).Result()
	if err != nil {
		return nil, err
	}
	return s.GetMany(ctx, owner, names)
}

// lexRange is the ZRANGEBYLEX range of the names under prefix that sort
// after after ("": from the start).
func lexRange(prefix, after string) (lo, hi string) {
	lo, hi = "-", "+"
	if prefix != "" {
		lo = "[" + prefix
		if end, ok := storage.PrefixEnd(prefix); ok {
			hi = "(" + end
		}
	}
	if after != "" {
		lo = "(" + after
	}
	return lo, hi
}

// putScript upserts name/value pairs as current records outside the
// history: each the next version of its name, created kept. ARGV: now (µs),
// the quota's secrets and bytes, then name, value pairs. It checks the
// whole batch against the quota before it writes anything.
var putScript = script(`
local now = ARGV[1]
local ds, db = 0, 0
local plan = {}
for i = 4, #ARGV, 2 do
	local _, last, rec, outside, kept = state(ARGV[i])
	if not kept then ds = ds + 1 end
	db = db + #ARGV[i + 1] - outside
	local created = now
	if rec then
		local _, c = cur_hdr(rec)
		created = c
	end
	plan[#plan + 1] = int(last + 1) .. ':' .. created .. ':' .. now .. ':'
end
local refused = over(tonumber(ARGV[2]), tonumber(ARGV[3]), ds, db)
if refused then return refused end
for i = 4, #ARGV, 2 do
	redis.call('HSET', K_DATA, ARGV[i], plan[(i - 2) / 2] .. ARGV[i + 1])
	redis.call('ZADD', K_NAMES, 0, ARGV[i])
end
add_usage(ds, db)
return {'ok'}
`)

// run runs a write script on one owner's keys (keys[0] picks the slot)
// through writer, so REDIS_WAIT_REPLICAS covers it.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	c, end, err := s.writer(ctx, keys[0])
	if err != nil {
		return redis.NewCmdResult(nil, err)
	}
	v, err := sc.Run(ctx, c, keys, args...).Result()
	return redis.NewCmdResult(v, end(err))
}

// Put implements storage.Store: one script, so the batch is applied whole
// and no other command sees half of it.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	args := make([]any, 0, 3+2*len(items))
	args = append(args, micros(time.Now()), s.quota.Secrets, s.quota.Bytes)
	for _, it := range items {
		args = append(args, it.Name, it.Value)
	}
	res, err := s.run(ctx, putScript, s.ownerKeys(owner), args...).Slice()
	if err != nil {
		return err
	}
	return refusal(res)
}

// deleteScript removes the current records of the names in ARGV (their
// history stays).
var deleteScript = script(`
local ds, db = 0, 0
for i = 1, #ARGV do
	local _, _, rec, outside, _, hist = state(ARGV[i])
	if rec then
		db = db - outside
		if not hist then ds = ds - 1 end
		redis.call('HDEL', K_DATA, ARGV[i])
		redis.call('ZREM', K_NAMES, ARGV[i])
	end
end
add_usage(ds, db)
return 1
`)

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, owner string, names []string) error {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	return s.run(ctx, deleteScript, s.ownerKeys(owner), args...).Err()
}

// swapScript replaces the value part of a current record if it equals
// ARGV[2].
var swapScript = script(`
local rec = redis.call('HGET', K_DATA, ARGV[1])
if not rec then return 0 end
local cv, _, hl = cur_hdr(rec)
if string.sub(rec, hl + 1) ~= ARGV[2] then return 0 end
redis.call('HSET', K_DATA, ARGV[1], string.sub(rec, 1, hl) .. ARGV[3])
if cv > head(ARGV[1]) then add_usage(0, #ARGV[3] - #ARGV[2]) end
return 1
`)

// Swap implements storage.Store.
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	n, err := s.run(ctx, swapScript, s.ownerKeys(owner), name, old, new).Int()
	return n == 1, err
}

// Walk implements storage.Store: SCAN on every primary finds the owners,
// then each owner's names are read in pages (ZRANGEBYLEX … LIMIT) with
// their records, so no secret is visited twice and fn may write.
func (s *Store) Walk(ctx context.Context, fn func(owner string, s storage.Secret) error) error {
	owners, err := s.owners(ctx, kNames)
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
