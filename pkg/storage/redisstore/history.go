package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// History on Redis. Per owner, beside names and data (see the package
// doc): heads (name → newest version, tombstone or not), vidx (a zset of
// members "<name>\0<version, 20 digits>", so one name's versions are one
// lexical range, oldest first), vers (member → version record), usage, and
// the audit log with its head, bytes and indexes (see audit.go). Every
// write is one Lua script over these keys, so Redis applies it whole, with
// nothing in between: the check-and-set, the trimming to Keep, the quota
// and the audit event, its bytes, index entries and quota trim.

// SetQuota implements storage.Quotas.
func (s *Store) SetQuota(q storage.Quota) { s.quota = q }

// Usage implements storage.Quotas: the owner's usage hash, which every
// write script keeps in step, and the bytes of its audit log.
func (s *Store) Usage(ctx context.Context, owner string) (storage.Usage, error) {
	pipe := s.c.Pipeline()
	u := pipe.HMGet(ctx, s.key(owner, keySuffixes[kUsage]), "secrets", "bytes")
	a := pipe.Get(ctx, s.key(owner, keySuffixes[kAbytes]))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return storage.Usage{}, err
	}
	n := func(x any) int64 {
		str, _ := x.(string)
		i, _ := strconv.ParseInt(str, 10, 64)
		return i
	}
	v := u.Val()
	return storage.Usage{Secrets: n(v[0]), Bytes: n(v[1]), AuditBytes: n(a.Val())}, nil
}

// refusal is the error of a write script's answer: nil for "ok", a
// quota or check-and-set refusal, else an unexpected answer.
func refusal(res []any) error {
	tag := ""
	if len(res) > 0 {
		tag, _ = res[0].(string)
	}
	switch {
	case tag == "ok":
		return nil
	case tag == "quota" && len(res) == 4:
		limit, _ := res[1].(string)
		used, _ := res[2].(int64)
		max, _ := res[3].(int64)
		return &storage.QuotaError{Limit: limit, Used: used, Max: max}
	case tag == "conflict" && len(res) == 3:
		name, _ := res[1].(string)
		cur, _ := res[2].(int64)
		return &storage.ConflictError{Name: name, Current: cur}
	}
	return fmt.Errorf("redis: a write script answered %q", tag)
}

// commitScript is one Commit. ARGV: now (µs), keep, the writer's address
// and job, the quota's secrets and bytes, the audit block of the event
// (audit_block), then per change: name, "s" (set) or "d" (delete), cas,
// value. It checks every CAS, the head and the quota before it writes
// anything, then plans a trim of the audit log if the event takes it past
// its quota (the caller links the trim event and runs it again).
var commitScript = writeScript(`
local now, keep = ARGV[1], tonumber(ARGV[2])
local by = ':' .. now .. ':' .. int(#ARGV[3]) .. ':' .. int(#ARGV[4]) .. ':' .. ARGV[3] .. ARGV[4]
local a = audit_block(7)
local first = a.after
local plans = {}
for i = first, #ARGV, 4 do
	local live, last, rec, outside, kept = state(ARGV[i])
	local cas = tonumber(ARGV[i + 2])
	if cas >= 0 and live ~= cas then return {'conflict', ARGV[i], live} end
	plans[#plans + 1] = {live = live, last = last, rec = rec, outside = outside, kept = kept}
end
local moved = audit_moved(a)
if moved then return moved end
local ds, db = 0, 0
for j, p in ipairs(plans) do
	local i = first + (j - 1) * 4
	local name, del = ARGV[i], ARGV[i + 1] == 'd'
	if not (del and p.live == 0) then
		p.v = p.last + 1
		if not p.kept then ds = ds + 1 end
		db = db - p.outside
		if not del then db = db + #ARGV[i + 3] end
		if keep > 0 then
			local n = redis.call('ZLEXCOUNT', K_VIDX, '[' .. name .. '\0', '(' .. name .. '\1') + 1
			if n > keep then
				p.trim = members(name, n - keep)
				for _, m in ipairs(p.trim) do
					local r = redis.call('HGET', K_VERS, m)
					if r then db = db - ver_len(r) end
				end
			end
		end
	end
end
local refused = over(tonumber(ARGV[5]), tonumber(ARGV[6]), ds, db)
if refused then return refused end
local trim = audit_plan(a)
if trim then return trim end
local out = {'ok'}
for j, p in ipairs(plans) do
	local i = first + (j - 1) * 4
	local name, value = ARGV[i], ARGV[i + 3]
	if p.v then
		local m, v = member(name, p.v), int(p.v)
		if ARGV[i + 1] == 'd' then
			redis.call('HSET', K_VERS, m, '1' .. by)
			redis.call('HSET', K_HEADS, name, v .. ':1')
			redis.call('HDEL', K_DATA, name)
			redis.call('ZREM', K_NAMES, name)
		else
			redis.call('HSET', K_VERS, m, '0' .. by .. value)
			redis.call('HSET', K_HEADS, name, v .. ':0')
			local created = now
			if p.rec then
				local _, c = cur_hdr(p.rec)
				created = c
			end
			redis.call('HSET', K_DATA, name, v .. ':' .. created .. ':' .. now .. ':' .. value)
			redis.call('ZADD', K_NAMES, 0, name)
		end
		redis.call('ZADD', K_VIDX, 0, m)
		for _, t in ipairs(p.trim or {}) do
			redis.call('ZREM', K_VIDX, t)
			redis.call('HDEL', K_VERS, t)
		end
		out[#out + 1] = p.v
	else
		out[#out + 1] = 0
	end
end
add_usage(ds, db)
audit_store(a)
return out
`)

// Commit implements storage.History: one script (see commitScript).
func (s *Store) Commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	head := make([]any, 6, 6+auditBlockLen(c.Event))
	head[0], head[1], head[2], head[3] = micros(time.Now()), c.Keep, c.By.Address, c.By.Job
	head[4], head[5] = s.quota.Secrets, s.quota.Bytes
	changes := make([]any, 0, 4*len(c.Changes))
	for _, ch := range c.Changes {
		op := "s"
		if ch.Delete {
			op = "d"
		}
		changes = append(changes, ch.Name, op, ch.CAS, ch.Value)
	}
	keys := s.ownerKeys(c.Owner)
	res, err := s.withHead(ctx, c.Owner, oneEvent(c.Event), func(block []any) ([]any, error) {
		args := append(append(head[:6], block...), changes...)
		return s.run(ctx, commitScript, keys, args...).Slice()
	})
	if err != nil {
		return nil, err
	}
	if err := refusal(res); err != nil {
		return nil, err
	}
	if len(res) != 1+len(c.Changes) {
		return nil, fmt.Errorf("redis: a commit of %d changes answered %d versions", len(c.Changes), len(res)-1)
	}
	out := make([]int64, len(c.Changes))
	for i := range out {
		out[i], _ = res[i+1].(int64)
	}
	return out, nil
}

// getVersionScript answers {"cur", current record}, {"ver", version,
// version record}, {"deleted"} or {"none"} for ARGV name, version (0: the
// newest).
var getVersionScript = script(`
local name, v = ARGV[1], tonumber(ARGV[2])
local last, deleted = head(name)
local rec = redis.call('HGET', K_DATA, name)
local cv = 0
if rec then cv = cur_hdr(rec) end
if v == 0 then
	if rec and cv > last then return {'cur', rec} end
	if last == 0 then return {'none'} end
	if deleted then return {'deleted'} end
	v = last
end
local vr = redis.call('HGET', K_VERS, member(name, v))
if vr then return {'ver', v, vr} end
if rec and cv == v and cv > last then return {'cur', rec} end
return {'none'}
`)

// GetVersion implements storage.History.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	res, err := getVersionScript.Run(ctx, s.c, s.ownerKeys(owner), name, v).Slice()
	if err != nil {
		return storage.Version{}, err
	}
	tag, _ := res[0].(string)
	switch {
	case tag == "cur" && len(res) == 2:
		rec, _ := res[1].(string)
		return currentVersion(name, rec, true)
	case tag == "ver" && len(res) == 3:
		n, _ := res[1].(int64)
		rec, _ := res[2].(string)
		return parseVersion(name, n, rec, true)
	case tag == "deleted":
		return storage.Version{}, storage.ErrDeleted
	case tag == "none":
		return storage.Version{}, storage.ErrNotFound
	}
	return storage.Version{}, fmt.Errorf("redis: GetVersion answered %q", tag)
}

// currentVersion is a current record as the version it stands for: one
// written by Put outside the history, so with no writer.
func currentVersion(name, rec string, withValue bool) (storage.Version, error) {
	sec, err := decode(name, rec)
	if err != nil {
		return storage.Version{}, err
	}
	v := storage.Version{Name: name, Version: sec.Version, CreatedAt: sec.UpdatedAt}
	if withValue {
		v.Value = sec.Value
	}
	return v, nil
}

// parseVersion decodes a version record (see prelude); without value when
// withValue is false or it is a tombstone.
func parseVersion(name string, n int64, rec string, withValue bool) (storage.Version, error) {
	bad := fmt.Errorf("redis: malformed version record (%d bytes)", len(rec))
	var f [4]int64
	rest := rec
	for i := range f {
		num, tail, ok := strings.Cut(rest, ":")
		x, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || x < 0 {
			return storage.Version{}, bad
		}
		f[i], rest = x, tail
	}
	if int64(len(rest)) < f[2]+f[3] {
		return storage.Version{}, bad
	}
	v := storage.Version{
		Name:      name,
		Version:   n,
		Deleted:   f[0] == 1,
		CreatedAt: time.UnixMicro(f[1]).UTC(),
		By:        storage.Writer{Address: rest[:f[2]], Job: rest[f[2] : f[2]+f[3]]},
	}
	if withValue && !v.Deleted {
		v.Value = []byte(rest[f[2]+f[3]:])
	}
	return v, nil
}

// splitMember is the name and version of a version member.
func splitMember(m string) (string, int64, bool) {
	if len(m) < 22 || m[len(m)-21] != 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(m[len(m)-20:], 10, 64)
	return m[:len(m)-21], n, err == nil
}

// versionsScript answers the versions of ARGV[1], newest first, without
// values: "cur", current record for one written by Put outside the
// history, then member, version record pairs.
var versionsScript = script(`
local name = ARGV[1]
local out = {}
local rec = redis.call('HGET', K_DATA, name)
if rec then
	local cv, _, hl = cur_hdr(rec)
	if cv > head(name) then
		out[1], out[2] = 'cur', string.sub(rec, 1, hl)
	end
end
local ms = members(name)
for i = #ms, 1, -1 do
	local r = redis.call('HGET', K_VERS, ms[i])
	if r then
		out[#out + 1] = ms[i]
		out[#out + 1] = ver_meta(r)
	end
end
return out
`)

// Versions implements storage.History.
func (s *Store) Versions(ctx context.Context, owner, name string) ([]storage.Version, error) {
	res, err := versionsScript.Run(ctx, s.c, s.ownerKeys(owner), name).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []storage.Version
	for i := 0; i+1 < len(res); i += 2 {
		m, _ := res[i].(string)
		rec, _ := res[i+1].(string)
		var v storage.Version
		if m == "cur" {
			v, err = currentVersion(name, rec, false)
		} else if _, n, ok := splitMember(m); ok {
			v, err = parseVersion(name, n, rec, false)
		} else {
			err = errors.New("redis: malformed version member")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, storage.ErrNotFound
	}
	return out, nil
}

// scanPage is how many members or names a maintenance walk reads at once.
const scanPage = 1000

// versionPage reads up to n version members in the lexical range with
// their records (nil for one removed between the two reads).
func (s *Store) versionPage(ctx context.Context, owner, lo, hi string, n int) ([]string, []any, error) {
	ms, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.key(owner, keySuffixes[kVidx]), Start: lo, Stop: hi, ByLex: true, Count: int64(n)}).Result()
	if err != nil || len(ms) == 0 {
		return nil, nil, err
	}
	recs, err := s.c.HMGet(ctx, s.key(owner, keySuffixes[kVers]), ms...).Result()
	return ms, recs, err
}

// eachVersion calls fn with every version of owner's names under prefix,
// in order (by name, then oldest first), a page at a time.
func (s *Store) eachVersion(ctx context.Context, owner, prefix string, withValue bool, fn func(v storage.Version) error) error {
	lo, hi := lexRange(prefix, "")
	for {
		ms, recs, err := s.versionPage(ctx, owner, lo, hi, scanPage)
		if err != nil {
			return err
		}
		for i, m := range ms {
			rec, ok := recs[i].(string)
			name, n, okm := splitMember(m)
			if !ok || !okm {
				continue
			}
			v, err := parseVersion(name, n, rec, withValue)
			if err != nil {
				return err
			}
			if err := fn(v); err != nil {
				return err
			}
		}
		if len(ms) < scanPage {
			return nil
		}
		lo = "(" + ms[len(ms)-1]
	}
}

// AsOf implements storage.History: the versions under prefix a page at a
// time, then the current records a page at a time for those written by
// Put outside the history. The walk is not a snapshot, but what a write
// adds meanwhile is newer than t.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	at := t.UnixMicro()
	best := map[string]storage.Version{}
	newest := map[string]int64{}
	err := s.eachVersion(ctx, owner, prefix, true, func(v storage.Version) error {
		newest[v.Name] = max(newest[v.Name], v.Version)
		if v.CreatedAt.UnixMicro() <= at && v.Version > best[v.Name].Version {
			best[v.Name] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for after := ""; ; {
		page, err := s.ListPage(ctx, owner, prefix, after, scanPage)
		if err != nil {
			return nil, err
		}
		for _, sec := range page {
			if sec.Version > newest[sec.Name] && sec.UpdatedAt.UnixMicro() <= at {
				best[sec.Name] = storage.Version{Name: sec.Name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt}
			}
		}
		if len(page) < scanPage {
			break
		}
		after = page[len(page)-1].Name
	}
	out := make([]storage.Version, 0, len(best))
	for _, v := range best {
		out = append(out, v)
	}
	storage.SortVersions(out)
	return out, nil
}

// destroyScript removes every version and the current record of the
// names after the audit block of its event (audit_block) in ARGV.
var destroyScript = writeScript(`
local a = audit_block(1)
local moved = audit_moved(a)
if moved then return moved end
local trim = audit_plan(a)
if trim then return trim end
local ds, db = 0, 0
for i = a.after, #ARGV do
	local _, _, rec, outside, kept = state(ARGV[i])
	if kept then ds = ds - 1 end
	db = db - outside - drop_versions(ARGV[i])
	if rec then
		redis.call('HDEL', K_DATA, ARGV[i])
		redis.call('ZREM', K_NAMES, ARGV[i])
	end
end
add_usage(ds, db)
audit_store(a)
return {'ok'}
`)

// Destroy implements storage.History.
func (s *Store) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	rest := make([]any, len(names))
	for i, n := range names {
		rest[i] = n
	}
	keys := s.ownerKeys(owner)
	res, err := s.withHead(ctx, owner, oneEvent(ev), func(block []any) ([]any, error) {
		return s.run(ctx, destroyScript, keys, append(block, rest...)...).Slice()
	})
	if err != nil {
		return err
	}
	return refusal(res)
}

// purgeScript applies what PurgeHistory found, checking each step against
// the name's head again (a commit may have come in): ARGV holds triples
// "o", name, version (remove that version if it is not the newest) and
// "g", name, version (remove the name's whole history if that version is
// still its newest, a tombstone).
var purgeScript = script(`
local ds, db = 0, 0
for i = 1, #ARGV, 3 do
	local name, v = ARGV[i + 1], tonumber(ARGV[i + 2])
	local last, deleted = head(name)
	if ARGV[i] == 'o' then
		if last > v then
			local m = member(name, v)
			local r = redis.call('HGET', K_VERS, m)
			if r then
				db = db - ver_len(r)
				redis.call('HDEL', K_VERS, m)
				redis.call('ZREM', K_VIDX, m)
			end
		end
	elseif last == v and deleted then
		db = db - drop_versions(name)
		if redis.call('HEXISTS', K_DATA, name) == 0 then ds = ds - 1 end
	end
end
add_usage(ds, db)
return 1
`)

// PurgeHistory implements storage.History: per owner, a walk of its
// versions a page at a time, and per page one script that removes what
// the walk found.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) error {
	owners, err := s.owners(ctx, kHeads)
	if err != nil {
		return err
	}
	cut := before.UnixMicro()
	for owner := range owners {
		keys := s.ownerKeys(owner)
		var group []storage.Version // one name's versions, oldest first
		var ops []any
		plan := func() {
			if len(group) == 0 {
				return
			}
			last := group[len(group)-1]
			if last.Deleted && last.CreatedAt.UnixMicro() < cut {
				ops = append(ops, "g", last.Name, last.Version)
			} else {
				for _, v := range group[:len(group)-1] {
					if v.CreatedAt.UnixMicro() < cut {
						ops = append(ops, "o", v.Name, v.Version)
					}
				}
			}
			group = group[:0]
		}
		run := func() error {
			if len(ops) == 0 {
				return nil
			}
			err := s.run(ctx, purgeScript, keys, ops...).Err()
			ops = ops[:0]
			return err
		}
		n := 0
		err := s.eachVersion(ctx, owner, "", false, func(v storage.Version) error {
			if len(group) > 0 && group[0].Name != v.Name {
				plan()
			}
			group = append(group, v)
			if n++; n%scanPage == 0 {
				return run()
			}
			return nil
		})
		if err != nil {
			return err
		}
		plan()
		if err := run(); err != nil {
			return err
		}
	}
	return nil
}
