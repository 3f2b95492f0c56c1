package redisstore

import "github.com/redis/go-redis/v9"

// The write scripts all take an owner's keys in this order (ownerKeys), so
// they share one prelude. Every key carries the {owner} hash tag: a script
// touches one cluster slot.
const (
	kNames  = iota // zset of live names, scores 0
	kData          // hash name → current record
	kHeads         // hash name → "<newest version>:<1 if it is a tombstone>"
	kVidx          // zset of version members name\0%020d, scores 0
	kVers          // hash version member → version record
	kUsage         // hash secrets, bytes (storage.Quotas)
	kAudit         // zset of audit events (JSON), score seq
	kAhead         // string "<seq>:<hash>" of the newest audit event
	kAbytes        // string: the bytes of the audit events kept (Usage.AuditBytes)
	kAidx          // zset of members "k<key name>\0%020d seq", "a<action>\0…", scores 0
	nKeys
)

var keySuffixes = [nKeys]string{"names", "data", "heads", "vidx", "vers", "usage", "audit", "ahead", "abytes", "aidx"}

// ownerKeys are the keys of one owner, in the order above.
func (s *Store) ownerKeys(owner string) []string {
	keys := make([]string, nKeys)
	for i, suf := range keySuffixes {
		keys[i] = s.key(owner, suf)
	}
	return keys
}

func (s *Store) key(owner, suffix string) string { return s.prefix + "{" + owner + "}:" + suffix }

// prelude, preludeHistory and preludeAudit are the Lua shared by the
// scripts: each script runs all the Lua it is made of on every call (a
// local function is a closure made again each time), so it takes only the
// parts it uses: the keys (prelude), the versions (preludeHistory), the
// audit log (preludeAudit) and recount.
//
// A current record (data) is "<version>:<created µs>:<updated µs>:<value>";
// a version record (vers) is "<1 if tombstone>:<created µs>:<len address>:
// <len job>:<address><job><value>". A current record whose version is
// newer than the name's history was written by Put outside it: it counts
// as the newest version, and its bytes count towards the owner's use.
const prelude = `
local K_NAMES, K_DATA, K_HEADS, K_VIDX, K_VERS, K_USAGE, K_AUDIT, K_AHEAD, K_ABYTES, K_AIDX =
	KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]

`

// preludeHistory is the Lua of the scripts that read or write versions.
const preludeHistory = `
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

`

// preludeAudit is the Lua of the scripts that store or remove audit
// events (audit_block, audit_store…) or read the log.
const preludeAudit = `
-- checks that the audit head is still expect ("<seq>:<hash>", "0:" for an
-- empty log); the refusal to return when it moved
local function head_moved(expect)
	local h = redis.call('GET', K_AHEAD) or '0:'
	if h ~= expect then return {'head', h} end
	return nil
end

-- the audit block of a script's ARGV, from base (see auditBlock in
-- audit.go): the head the events were linked to ('' for no events), the
-- head after them, the owner's audit quota, the bytes a quota trim keeps
-- at most before its own event (storage.AuditTrimTarget), the seq below which the stored events go (0: none), how
-- many events, then per event: seq, JSON, action, how many keys, the keys.
local function audit_block(base)
	local a = {expect = ARGV[base], next = ARGV[base + 1], quota = tonumber(ARGV[base + 2]),
		target = tonumber(ARGV[base + 3]), cut = tonumber(ARGV[base + 4]), events = {}, add = 0}
	local i = base + 6
	for _ = 1, tonumber(ARGV[base + 5]) do
		local nk = tonumber(ARGV[i + 3])
		a.events[#a.events + 1] = {seq = ARGV[i], json = ARGV[i + 1], action = ARGV[i + 2], k1 = i + 4, kn = i + 3 + nk}
		a.add = a.add + #ARGV[i + 1]
		i = i + 4 + nk
	end
	a.after = i
	return a
end

local function seq20(seq) return string.format('%020d', seq) end

-- adds (op ZADD) or removes (ZREM) index members: one command for up to
-- 500 of them
local function index_members(op, ms)
	for i = 1, #ms, 500 do
		local args = {}
		for j = i, math.min(i + 499, #ms) do
			if op == 'ZADD' then args[#args + 1] = 0 end
			args[#args + 1] = ms[j]
		end
		redis.call(op, K_AIDX, unpack(args))
	end
end

-- adds (op ZADD) or removes (ZREM) the index entries of a stored event
local function index_event(op, json)
	local ok, e = pcall(cjson.decode, json)
	if not ok or type(e) ~= 'table' or type(e.seq) ~= 'number' then return end
	local s = '\0' .. seq20(e.seq)
	local ms = {}
	if type(e.action) == 'string' then ms[1] = 'a' .. e.action .. s end
	if type(e.keys) == 'table' then
		for _, k in ipairs(e.keys) do
			if type(k) == 'string' then ms[#ms + 1] = 'k' .. k .. s end
		end
	end
	index_members(op, ms)
end

-- removes the oldest events with seq below cut, at most n of them (all
-- when n is nil), with their index entries and bytes; returns how many
local function drop_events(cut, n)
	local ms = redis.call('ZRANGEBYSCORE', K_AUDIT, '-inf', '(' .. cut, 'LIMIT', 0, n or -1)
	if #ms == 0 then return 0 end
	local freed = 0
	for _, m in ipairs(ms) do
		index_event('ZREM', m)
		freed = freed + #m
	end
	redis.call('ZREMRANGEBYRANK', K_AUDIT, 0, #ms - 1)
	redis.call('DECRBY', K_ABYTES, freed)
	return #ms
end

-- the refusal to return when the block's events were linked to a head
-- that is no longer the log's
local function audit_moved(a)
	if a.expect == '' then return nil end
	return head_moved(a.expect)
end

-- nil when the block's events fit the owner's audit quota (or a trim was
-- planned already), else {'atrim', seq, anchor}: the oldest events go up to
-- seq, whose prev_hash is anchor, so that what is kept takes at most the
-- block's target, and with the trim event at most three quarters of the
-- quota ('0' when every stored event goes: the first of the block is
-- kept). Nothing is written.
local function audit_plan(a)
	if a.expect == '' or a.cut > 0 or a.quota <= 0 then return nil end
	local used = tonumber(redis.call('GET', K_ABYTES) or '0') or 0
	if used + a.add <= a.quota or redis.call('EXISTS', K_AUDIT) == 0 then return nil end
	local need = used + a.add - a.target
	local removed, off = 0, 0
	while true do
		local ms = redis.call('ZRANGE', K_AUDIT, off, off + 99)
		for _, m in ipairs(ms) do
			if removed >= need then
				return {'atrim', string.match(m, '^{"seq":(%d+),'), string.match(m, '"prev_hash":"(%x*)"')}
			end
			removed = removed + #m
		end
		if #ms < 100 then return {'atrim', '0', ''} end
		off = off + 100
	end
end

-- stores the block's events (after removing, when the block says so, the
-- events before its cut: at most maxdrop of them, all when nil), their
-- index entries and bytes, and the new head
local function audit_store(a, maxdrop)
	if a.expect == '' then return end
	if a.cut > 0 then drop_events(a.cut, maxdrop) end
	for _, e in ipairs(a.events) do
		local s = '\0' .. seq20(tonumber(e.seq))
		redis.call('ZADD', K_AUDIT, e.seq, e.json)
		if e.kn - e.k1 < 16 then
			local args = {0, 'a' .. e.action .. s}
			for k = e.k1, e.kn do
				args[#args + 1] = 0
				args[#args + 1] = 'k' .. ARGV[k] .. s
			end
			redis.call('ZADD', K_AIDX, unpack(args))
		else
			local ms = {'a' .. e.action .. s}
			for k = e.k1, e.kn do ms[#ms + 1] = 'k' .. ARGV[k] .. s end
			index_members('ZADD', ms)
		end
	end
	redis.call('INCRBY', K_ABYTES, a.add)
	redis.call('SET', K_AHEAD, a.next)
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

// script is a Lua script over the versions.
func script(body string) *redis.Script { return redis.NewScript(prelude + preludeHistory + body) }

// recountingScript is a script over the versions that may recount.
func recountingScript(body string) *redis.Script {
	return redis.NewScript(prelude + preludeHistory + recount + body)
}

// auditScript is a script over the audit log alone.
func auditScript(body string) *redis.Script { return redis.NewScript(prelude + preludeAudit + body) }

// writeScript is a script over the versions that appends audit events.
func writeScript(body string) *redis.Script {
	return redis.NewScript(prelude + preludeHistory + preludeAudit + body)
}
