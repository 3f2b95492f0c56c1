package redisstore

import "github.com/redis/go-redis/v9"

// The write scripts all take an owner's keys in this order (ownerKeys), so
// they share one prelude. Every key carries the {owner} hash tag: a script
// touches one cluster slot.
const (
	kNames = iota // zset of live names, scores 0
	kData         // hash name → current record
	kHeads        // hash name → "<newest version>:<1 if it is a tombstone>"
	kVidx         // zset of version members name\0%020d, scores 0
	kVers         // hash version member → version record
	kUsage        // hash secrets, bytes (storage.Quotas)
	kAudit        // zset of audit events (JSON), score seq
	kAhead        // string "<seq>:<hash>" of the newest audit event
	nKeys
)

var keySuffixes = [nKeys]string{"names", "data", "heads", "vidx", "vers", "usage", "audit", "ahead"}

// ownerKeys are the keys of one owner, in the order above.
func (s *Store) ownerKeys(owner string) []string {
	keys := make([]string, nKeys)
	for i, suf := range keySuffixes {
		keys[i] = s.key(owner, suf)
	}
	return keys
}

func (s *Store) key(owner, suffix string) string { return s.prefix + "{" + owner + "}:" + suffix }

// prelude is the Lua shared by the scripts that read or write history.
//
// A current record (data) is "<version>:<created µs>:<updated µs>:<value>";
// a version record (vers) is "<1 if tombstone>:<created µs>:<len address>:
// <len job>:<address><job><value>". A current record whose version is
// newer than the name's history was written by Put outside it: it counts
// as the newest version, and its bytes count towards the owner's use.
const prelude = `
local K_NAMES, K_DATA, K_HEADS, K_VIDX, K_VERS, K_USAGE, K_AUDIT, K_AHEAD =
	KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]

local function int(n) return string.format('%d', n) end

local function member(name, v) return name .. '\0' .. string.format('%020d', v) end

-- the version members of name, oldest first
local function members(name, limit)
	if limit then
		return redis.call('ZRANGEBYLEX', K_VIDX, '[' .. name .. '\0', '(' .. name .. '\1', 'LIMIT', 0, limit)
	end
	return redis.call('ZRANGEBYLEX', K_VIDX, '[' .. name .. '\0', '(' .. name .. '\1')
end

-- version, created (string) and header length of a current record
local function cur_hdr(rec)
	local v, c, u = string.match(rec, '^(%d+):(%d+):(%d+):')
	return tonumber(v), c, #v + #c + #u + 3
end

-- the value length of a version record
local function ver_len(rec)
	local d, c, a, j = string.match(rec, '^(%d):(%d+):(%d+):(%d+):')
	return #rec - (#d + #c + #a + #j + 4) - tonumber(a) - tonumber(j)
end

-- newest version number of name's history (0: none) and whether it is a
-- tombstone
local function head(name)
	local h = redis.call('HGET', K_HEADS, name)
	if not h then return 0, false end
	local l, d = string.match(h, '^(%d+):(%d)$')
	return tonumber(l), d == '1'
end

-- what a name is: its newest live version (0: absent or deleted), its
-- newest version of any kind, its current record (or false), the bytes of
-- a current record written outside the history, whether it takes a place
-- in the owner's count (has history or a current record), and whether it
-- has history
local function state(name)
	local last, deleted = head(name)
	local live = last
	if deleted then live = 0 end
	local hist = last > 0
	local kept = hist
	local rec = redis.call('HGET', K_DATA, name)
	local outside = 0
	if rec then
		kept = true
		local cv, _, hl = cur_hdr(rec)
		if cv > last then live, last, outside = cv, cv, #rec - hl end
	end
	return live, last, rec, outside, kept, hist
end

-- removes every version of name; returns the bytes they held
local function drop_versions(name)
	local freed = 0
	for _, m in ipairs(members(name)) do
		local r = redis.call('HGET', K_VERS, m)
		if r then freed = freed + ver_len(r) end
		redis.call('HDEL', K_VERS, m)
		redis.call('ZREM', K_VIDX, m)
	end
	redis.call('HDEL', K_HEADS, name)
	return freed
end

-- a version record without its value
local function ver_meta(rec)
	local d, c, a, j = string.match(rec, '^(%d):(%d+):(%d+):(%d+):')
	return string.sub(rec, 1, #d + #c + #a + #j + 4 + tonumber(a) + tonumber(j))
end

-- the owner's use
local function usage()
	local u = redis.call('HMGET', K_USAGE, 'secrets', 'bytes')
	return tonumber(u[1] or 0) or 0, tonumber(u[2] or 0) or 0
end

-- nil when a write that changes use by ds secrets and db bytes stays within
-- the limits qs and qb (0: none), else the refusal to return
local function over(qs, qb, ds, db)
	if qs == 0 and qb == 0 then return nil end
	local us, ub = usage()
	if qs > 0 and ds > 0 and us + ds > qs then return {'quota', 'secrets', us, qs} end
	if qb > 0 and db > 0 and ub + db > qb then return {'quota', 'bytes', ub, qb} end
	return nil
end

-- changes the owner's use; an owner who keeps nothing has no usage key
local function add_usage(ds, db)
	if ds == 0 and db == 0 then return end
	local ns = redis.call('HINCRBY', K_USAGE, 'secrets', ds)
	local nb = redis.call('HINCRBY', K_USAGE, 'bytes', db)
	if ns == 0 and nb == 0 then redis.call('DEL', K_USAGE) end
end

-- checks that the audit head is still expect ("<seq>:<hash>", "0:" for an
-- empty log); the refusal to return when it moved
local function head_moved(expect)
	local h = redis.call('GET', K_AHEAD) or '0:'
	if h ~= expect then return {'head', h} end
	return nil
end

-- stores linked events: ARGV[from], ARGV[from+1] … as seq, JSON pairs, up
-- to ARGV[to], and the new head
local function append_events(from, to, newhead)
	for i = from, to, 2 do
		redis.call('ZADD', K_AUDIT, ARGV[i], ARGV[i + 1])
	end
	redis.call('SET', K_AHEAD, newhead)
end
`

// recount is recountScript's body, in the prelude so that an import can end
// with it. HSCAN may return a field twice; seen counts it once.
const recount = `
local function recount()
	local ns, nb = 0, 0
	local seen = {}
	local cursor = '0'
	repeat
		local r = redis.call('HSCAN', K_DATA, cursor, 'COUNT', 1000)
		cursor = r[1]
		for i = 1, #r[2], 2 do
			local name, rec = r[2][i], r[2][i + 1]
			if not seen[name] then
				seen[name] = true
				local last = head(name)
				local cv, _, hl = cur_hdr(rec)
				if last == 0 then ns = ns + 1 end
				if cv > last then nb = nb + #rec - hl end
			end
		end
	until cursor == '0'
	ns = ns + redis.call('HLEN', K_HEADS)
	seen = {}
	cursor = '0'
	repeat
		local r = redis.call('HSCAN', K_VERS, cursor, 'COUNT', 1000)
		cursor = r[1]
		for i = 1, #r[2], 2 do
			if not seen[r[2][i]] then
				seen[r[2][i]] = true
				nb = nb + ver_len(r[2][i + 1])
			end
		end
	until cursor == '0'
	redis.call('DEL', K_USAGE)
	if ns > 0 or nb > 0 then redis.call('HSET', K_USAGE, 'secrets', ns, 'bytes', nb) end
	return {ns, nb}
end
`

// script is a Lua script with the prelude.
func script(body string) *redis.Script { return redis.NewScript(prelude + recount + body) }
