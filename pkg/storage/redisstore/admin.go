package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// WalkAudit implements storage.HistoryAdmin: the owners by SCAN (in order),
// then each owner's log a page at a time by seq, oldest first, so fn may
// append (a later event is visited, none twice).
func (s *Store) WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error {
	set, err := s.owners(ctx, kAudit)
	if err != nil {
		return err
	}
	owners := make([]string, 0, len(set))
	for o := range set {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	for _, owner := range owners {
		lo := "-inf"
		for {
			evs, err := decodeEvents(s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.key(owner, keySuffixes[kAudit]),
				Start: lo, Stop: "+inf", ByScore: true, Count: scanPage}).Result())
			if err != nil {
				return err
			}
			for _, e := range evs {
				if err := fn(owner, e); err != nil {
					return err
				}
				lo = "(" + strconv.FormatUint(e.Seq, 10)
			}
			if len(evs) < scanPage {
				break
			}
		}
	}
	return ctx.Err()
}

// WalkVersions implements storage.HistoryAdmin: per owner, its versions a
// page at a time (by name, oldest first), then the current records that
// Put wrote outside the history, each the newest version of its name.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	owners, err := s.owners(ctx, kHeads, kData)
	if err != nil {
		return err
	}
	for owner := range owners {
		err := s.eachVersion(ctx, owner, "", true, func(v storage.Version) error { return fn(owner, v) })
		if err != nil {
			return err
		}
		for after := ""; ; {
			page, err := s.ListPage(ctx, owner, "", after, scanPage)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break // on to the next owner
			}
			names := make([]string, len(page))
			for i, sec := range page {
				names[i] = sec.Name
			}
			heads, err := s.c.HMGet(ctx, s.key(owner, keySuffixes[kHeads]), names...).Result()
			if err != nil {
				return err
			}
			for i, sec := range page {
				var last int64
				if h, ok := heads[i].(string); ok {
					fmt.Sscanf(h, "%d:", &last)
				}
				if sec.Version > last {
					if err := fn(owner, storage.Version{Name: sec.Name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt}); err != nil {
						return err
					}
				}
			}
			if len(page) < scanPage {
				break
			}
			after = page[len(page)-1].Name
		}
	}
	return nil
}

// swapVersionScript: ARGV name, version, old, new. The version record's
// value, and the current record's when it is that version; a current
// record written by Put outside the history is swapped alone.
var swapVersionScript = script(`
local name, v, old, new = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local m = member(name, v)
local vr = redis.call('HGET', K_VERS, m)
local rec = redis.call('HGET', K_DATA, name)
local cv, hl = 0, 0
if rec then
	local x, _, l = cur_hdr(rec)
	cv, hl = x, l
end
if vr then
	local d = string.sub(vr, 1, 1)
	local len = ver_len(vr)
	if d == '1' or string.sub(vr, #vr - len + 1) ~= old then return 0 end
	redis.call('HSET', K_VERS, m, string.sub(vr, 1, #vr - len) .. new)
	add_usage(0, #new - #old)
	if rec and cv == v and string.sub(rec, hl + 1) == old then
		redis.call('HSET', K_DATA, name, string.sub(rec, 1, hl) .. new)
	end
	return 1
end
if rec and cv == v and cv > head(name) and string.sub(rec, hl + 1) == old then
	redis.call('HSET', K_DATA, name, string.sub(rec, 1, hl) .. new)
	add_usage(0, #new - #old)
	return 1
end
return 0
`)

// SwapVersion implements storage.HistoryAdmin.
func (s *Store) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	n, err := s.run(ctx, swapVersionScript, s.ownerKeys(owner), name, v, old, new).Int()
	return n == 1, err
}

// importScript stores versions as they are: ARGV holds sextuples name,
// version, "1" for a tombstone, created µs, address, job, value (seven
// fields); if the owner holds one of the names already (a current record
// or a version) it stores nothing and returns that name. Then each name's newest version becomes its head and, unless a
// tombstone, its current record (created when its oldest kept version
// was), and the owner's usage is counted again.
var importScript = recountingScript(`
for i = 1, #ARGV, 7 do
	local _, _, _, _, kept = state(ARGV[i])
	if kept then return {'held', ARGV[i]} end
end
local names, order = {}, {}
for i = 1, #ARGV, 7 do
	local name, v, d, c, a, j, value = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
	local m = member(name, v)
	redis.call('HSET', K_VERS, m, d .. ':' .. c .. ':' .. int(#a) .. ':' .. int(#j) .. ':' .. a .. j .. value)
	redis.call('ZADD', K_VIDX, 0, m)
	if not names[name] then
		names[name] = true
		order[#order + 1] = name
	end
end
for _, name in ipairs(order) do
	local ms = members(name)
	local first = redis.call('HGET', K_VERS, ms[1])
	local newest = ms[#ms]
	local last = tonumber(string.sub(newest, -20))
	local rec = redis.call('HGET', K_VERS, newest)
	local d, c = string.match(rec, '^(%d):(%d+):')
	redis.call('HSET', K_HEADS, name, int(last) .. ':' .. d)
	if d == '1' then
		redis.call('HDEL', K_DATA, name)
		redis.call('ZREM', K_NAMES, name)
	else
		local len = ver_len(rec)
		local _, created = string.match(first, '^(%d):(%d+):')
		redis.call('HSET', K_DATA, name, int(last) .. ':' .. created .. ':' .. c .. ':' .. string.sub(rec, #rec - len + 1))
		redis.call('ZADD', K_NAMES, 0, name)
	end
end
recount()
return 1
`)

// ImportVersions implements storage.HistoryAdmin: one script.
func (s *Store) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	if len(vs) == 0 {
		return ctx.Err()
	}
	args := make([]any, 0, 7*len(vs))
	for _, v := range vs {
		if v.Version <= 0 {
			return fmt.Errorf("%w: version %d", storage.ErrInvalid, v.Version)
		}
		d, value := "0", v.Value
		if v.Deleted {
			d, value = "1", nil
		}
		args = append(args, v.Name, v.Version, d, micros(v.CreatedAt), v.By.Address, v.By.Job, value)
	}
	res, err := s.run(ctx, importScript, s.ownerKeys(owner), args...).Result()
	if err != nil {
		return err
	}
	if r, ok := res.([]any); ok && len(r) == 2 && r[0] == "held" {
		return fmt.Errorf("%w: %s already holds %q", storage.ErrInvalid, owner, r[1])
	}
	return nil
}

// importAuditScript stores events (an audit block, linked after the empty
// head) into an empty log, with their index entries and bytes.
var importAuditScript = auditScript(`
if redis.call('EXISTS', K_AUDIT) == 1 or redis.call('EXISTS', K_AHEAD) == 1 then return 0 end
redis.call('DEL', K_AIDX, K_ABYTES)
audit_store(audit_block(1))
return 1
`)

// errAuditNotEmpty is an ImportAudit into a log that has events.
var errAuditNotEmpty = errors.New("redis: the owner's audit log is not empty")

// ImportAudit implements storage.HistoryAdmin: the events as they are, in
// one script that refuses a log with events.
func (s *Store) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	if len(events) == 0 {
		return ctx.Err()
	}
	var head audit.Head
	var newest audit.Event
	for _, e := range events {
		if e.Seq >= head.Seq {
			head, newest = audit.Head{Seq: e.Seq, Hash: e.Hash}, e
		}
	}
	block, err := auditBlock(audit.Head{}, head, events, 0, 0)
	if err != nil {
		return err
	}
	n, err := s.run(ctx, importAuditScript, s.ownerKeys(owner), block...).Int()
	if err != nil {
		return err
	}
	if n != 1 {
		return errAuditNotEmpty
	}
	s.heads.set(owner, head, newest)
	return nil
}
