package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The audit log on Redis, per owner, all under the owner's hash tag: the
// events (a zset of their JSON by seq), the head ("<seq>:<hash>"), the
// bytes of the events kept (abytes, Usage.AuditBytes), and an index, a
// zset of members "k<key name>\0<seq, 20 digits>" and "a<action>\0<seq,
// 20 digits>" (aidx), all scores 0, so the events of one key or one action
// are one lexical range, newest last (one zset, so one ZADD an event).
// Every script that stores or removes events changes the index and the
// bytes with them.
//
// The chain is linked in Go (audit.Link: Redis's Lua has SHA-1 but no
// SHA-256, and one implementation of the chain is one to get right) and
// the newest event of each append signed there (audit.SignHead): a script
// stores the linked events only if the log's head is still the one they
// were linked to, and otherwise answers the new head, after which the
// caller links again. A writer retries only because another one got in,
// so appends always progress, and the chain never forks.
//
// An append that takes the owner past Quota.AuditBytes is answered, before
// the script writes anything, with the trim it needs (the first event to
// keep and the hash it links to); the caller links an audit.QuotaTrim
// event after its own and runs the script again, which removes the oldest
// events and stores the new ones in one go. Between the two runs nothing
// can change the log without moving its head.

// headCacheSize bounds the audit heads remembered: a miss costs one GET.
const headCacheSize = 4096

// headCache remembers each owner's audit head after its last append here,
// so an append usually needs no read first; a stale one costs a retry.
type headCache struct {
	mu sync.Mutex
	m  map[string]signedHead
}

// signedHead is a head and the signature its event carries.
type signedHead struct {
	audit.Head
	sigKey, sig string
}

func (c *headCache) get(owner string) (signedHead, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[owner]
	return h, ok
}

func (c *headCache) set(owner string, h audit.Head, newest audit.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= headCacheSize {
		c.m = make(map[string]signedHead)
	}
	c.m[owner] = signedHead{Head: h, sigKey: newest.SigKey, sig: newest.Sig}
}

// headSig is h with the signature of the event stored at h.Seq.
func (s *Store) headSig(ctx context.Context, owner string, h audit.Head) (signedHead, error) {
	out := signedHead{Head: h}
	if h.Seq == 0 {
		return out, nil
	}
	n := strconv.FormatUint(h.Seq, 10)
	ms, err := s.c.ZRangeByScore(ctx, s.key(owner, keySuffixes[kAudit]), &redis.ZRangeBy{Min: n, Max: n}).Result()
	if err != nil || len(ms) == 0 {
		return out, err
	}
	var sig eventSig
	_ = json.Unmarshal([]byte(ms[0]), &sig) // unreadable: unsigned
	out.sigKey, out.sig = sig.SigKey, sig.Sig
	return out, nil
}

// eventSig is the signature an event's JSON carries.
type eventSig struct {
	SigKey string `json:"sig_key"`
	Sig    string `json:"sig"`
}

// continuation is audit.Continue on owner's log, whose head is h.
func (s *Store) continuation(ctx context.Context, owner string, h signedHead) (*audit.Event, error) {
	return audit.Continue(ctx, owner, h.Head, h.sigKey, h.sig, func() (bool, error) {
		key := s.key(owner, keySuffixes[kAudit])
		for off := int64(0); ; off += scanPage {
			ms, err := s.c.ZRevRange(ctx, key, off, off+scanPage-1).Result()
			if err != nil {
				return false, err
			}
			for _, m := range ms {
				var sig eventSig
				if json.Unmarshal([]byte(m), &sig) == nil && sig.Sig != "" {
					return true, nil
				}
			}
			if len(ms) < scanPage {
				return false, nil
			}
		}
	})
}

func headString(h audit.Head) string { return strconv.FormatUint(h.Seq, 10) + ":" + h.Hash }

func parseHead(s string) (audit.Head, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return audit.Head{}, errors.New("redis: malformed audit head")
	}
	return audit.Head{Seq: n, Hash: hash}, nil
}

func (s *Store) readHead(ctx context.Context, owner string) (audit.Head, error) {
	h, err := s.c.Get(ctx, s.key(owner, keySuffixes[kAhead])).Result()
	if errors.Is(err, redis.Nil) {
		return audit.Head{}, nil
	}
	if err != nil {
		return audit.Head{}, err
	}
	return parseHead(h)
}

// appendAttempts bounds the relinking of an append that keeps losing the
// head to other writers.
const appendAttempts = 1000

func oneEvent(e *audit.Event) []audit.Event {
	if e == nil {
		return nil
	}
	return []audit.Event{*e}
}

// noBlock is the audit block of a write without events.
var noBlock = []any{"", "", 0, 0, 0, 0}

func auditBlockLen(e *audit.Event) int {
	if e == nil {
		return len(noBlock)
	}
	return len(noBlock) + 4 + min(len(e.Keys), audit.MaxKeys)
}

// auditBlock is the ARGV block (see audit_block in lua.go) that stores
// events, linked after expect up to next, removing the stored events
// before cut (0: none) first.
func auditBlock(expect, next audit.Head, events []audit.Event, quota int64, cut uint64) ([]any, error) {
	n := len(noBlock)
	for _, e := range events {
		n += 4 + len(e.Keys)
	}
	b := make([]any, 6, n)
	b[0], b[1], b[2], b[3], b[4], b[5] = headString(expect), headString(next), quota, 0, cut, len(events)
	if quota > 0 {
		b[3] = storage.AuditTrimTarget(quota)
	}
	for _, e := range events {
		j, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		b = append(b, e.Seq, j, string(e.Action), len(e.Keys))
		for _, k := range e.Keys {
			b = append(b, k)
		}
	}
	return b, nil
}

// withHead runs a write script that appends events to owner's log:
// try(block) gets the audit block of the events, linked and the newest
// signed (noBlock for none). When the script answers that the head moved,
// the events are linked again after the new one; when it answers the
// trim that the quota needs, a quota trim event is linked after them.
func (s *Store) withHead(ctx context.Context, owner string, events []audit.Event, try func(block []any) ([]any, error)) ([]any, error) {
	if len(events) == 0 {
		return try(noBlock)
	}
	sh, ok := s.heads.get(owner)
	if !ok {
		h, err := s.readHead(ctx, owner)
		if err == nil {
			sh, err = s.headSig(ctx, owner, h)
		}
		if err != nil {
			return nil, err
		}
	}
	var (
		trim   bool
		cut    uint64
		anchor string
	)
	linked := make([]audit.Event, 0, len(events)+2)
	for range appendAttempts {
		head := sh.Head
		first, err := s.continuation(ctx, owner, sh)
		if err != nil {
			return nil, err
		}
		linked = linked[:0]
		next := head
		for _, e := range audit.Prepend(first, events) {
			e, next = audit.Link(next, e)
			linked = append(linked, e)
		}
		if trim {
			if cut == 0 { // every stored event goes: keep this append's
				cut, anchor = linked[0].Seq, linked[0].PrevHash
			}
			var e audit.Event
			e, next = audit.Link(next, audit.QuotaTrim(time.Now(), cut, anchor))
			linked = append(linked, e)
		}
		audit.SignHead(ctx, owner, &linked[len(linked)-1])
		block, err := auditBlock(head, next, linked, s.quota.AuditBytes, cut)
		if err != nil {
			return nil, err
		}
		res, err := try(block)
		if err != nil {
			return nil, err
		}
		tag := ""
		if len(res) > 0 {
			tag, _ = res[0].(string)
		}
		switch {
		case tag == "head" && len(res) == 2:
			h, _ := res[1].(string)
			moved, err := parseHead(h)
			if err == nil {
				sh, err = s.headSig(ctx, owner, moved)
			}
			if err != nil {
				return nil, err
			}
			trim, cut = false, 0
			continue
		case tag == "atrim" && len(res) == 3 && !trim:
			seq, _ := res[1].(string)
			anchor, _ = res[2].(string)
			if cut, err = strconv.ParseUint(seq, 10, 64); err != nil {
				return nil, fmt.Errorf("redis: a malformed trim plan for the audit log")
			}
			trim = true
			continue
		case tag == "ok":
			s.heads.set(owner, next, linked[len(linked)-1])
		}
		return res, nil
	}
	return nil, fmt.Errorf("redis: the audit log moved under %d appends in a row", appendAttempts)
}

// appendScript stores linked events: the audit block (audit_block).
var appendScript = auditScript(`
local a = audit_block(1)
local refused = audit_moved(a) or audit_plan(a)
if refused then return refused end
audit_store(a)
return {'ok'}
`)

// AppendAudit implements storage.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	if len(events) == 0 {
		return ctx.Err()
	}
	keys := s.ownerKeys(owner)
	res, err := s.withHead(ctx, owner, events, func(block []any) ([]any, error) {
		return s.run(ctx, appendScript, keys, block...).Slice()
	})
	if err != nil {
		return err
	}
	return refusal(res)
}

// decodeEvents decodes the members of a ZRANGE reply of audit events, or
// passes on the reply's error.
func decodeEvents(ms []string, err error) ([]audit.Event, error) {
	if err != nil {
		return nil, err
	}
	out := make([]audit.Event, 0, len(ms))
	for _, m := range ms {
		e, err := decodeEvent(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeEvent(m string) (audit.Event, error) {
	var e audit.Event
	if err := json.Unmarshal([]byte(m), &e); err != nil {
		return audit.Event{}, fmt.Errorf("redis: malformed audit event: %w", err)
	}
	return e, nil
}

// trimChunk is how many events one script removes at most when retention
// trims: a long log goes over several, each short.
const trimChunk = 1000

// trimScript appends a retention trim event (the audit block, whose cut
// is the first event kept) and removes up to ARGV[after the block] of the
// events before it; dropScript removes up to ARGV[2] more, those before
// seq ARGV[1], and answers how many it removed. Events older than a trim
// event's first kept one are what a trim interrupted half-way leaves, and
// the log verifies meanwhile.
var (
	trimScript = auditScript(`
local a = audit_block(1)
local moved = audit_moved(a)
if moved then return moved end
audit_store(a, tonumber(ARGV[a.after]))
return {'ok'}
`)
	dropScript = auditScript(`return drop_events(ARGV[1], tonumber(ARGV[2]))`)
)

// TrimAudit implements storage.AuditLog: per owner, the oldest events are
// read until the first one at or after before (or the newest), and one
// script records the trim and removes the first of those before it, more
// scripts the rest.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	owners, err := s.owners(ctx, kAudit)
	if err != nil {
		return err
	}
	for owner := range owners {
		if err := s.trimOwner(ctx, owner, before); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) trimOwner(ctx context.Context, owner string, before time.Time) error {
	key := s.key(owner, keySuffixes[kAudit])
	keys := s.ownerKeys(owner)
	for range appendAttempts {
		head, err := s.readHead(ctx, owner)
		if err != nil {
			return err
		}
		var first, keep audit.Event
	scan:
		for off := int64(0); ; off += scanPage {
			evs, err := decodeEvents(s.c.ZRange(ctx, key, off, off+scanPage-1).Result())
			if err != nil {
				return err
			}
			for _, e := range evs {
				if first.Seq == 0 {
					first = e
				}
				keep = e
				if !e.Time.Before(before) {
					break scan
				}
			}
			if len(evs) < scanPage {
				break
			}
		}
		if keep.Seq <= first.Seq {
			return nil
		}
		sh, err := s.headSig(ctx, owner, head)
		if err != nil {
			return err
		}
		cont, err := s.continuation(ctx, owner, sh)
		if err != nil {
			return err
		}
		now := time.Now()
		var linked []audit.Event
		next := head
		for _, e := range audit.Prepend(cont, []audit.Event{audit.RetentionTrim(now, keep.Seq, keep.PrevHash, before, now.Sub(before))}) {
			e, next = audit.Link(next, e)
			linked = append(linked, e)
		}
		audit.SignHead(ctx, owner, &linked[len(linked)-1])
		block, err := auditBlock(head, next, linked, 0, keep.Seq)
		if err != nil {
			return err
		}
		res, err := s.run(ctx, trimScript, keys, append(block, trimChunk)...).Slice()
		if err != nil {
			return err
		}
		if tag, _ := res[0].(string); tag == "head" {
			continue
		}
		if err := refusal(res); err != nil {
			return err
		}
		s.heads.set(owner, next, linked[len(linked)-1])
		for {
			n, err := s.run(ctx, dropScript, keys, keep.Seq, trimChunk).Int()
			if err != nil || n < trimChunk {
				return err
			}
		}
	}
	return fmt.Errorf("redis: the audit log moved under %d trims in a row", appendAttempts)
}

// seq20 is a seq as the indexes spell it.
func seq20(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Audit implements storage.AuditLog. Without a key or action filter it
// reads the log newest first (one ZRANGE for an unfiltered page); with
// one, it reads the candidates' seqs from that index (the smaller of the
// two when both are set, by ZLEXCOUNT) and then their events, one pipeline
// a batch. Either way it examines at most storage.AuditScanMax events.
func (s *Store) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	q.Limit = min(max(q.Limit, 1), storage.AuditPageMax)
	if !q.Until.IsZero() {
		cut, err := s.untilCut(ctx, owner, q)
		if err != nil {
			return storage.AuditPage{}, err
		}
		if cut > 0 && (q.Before == 0 || cut < q.Before) {
			q.Before = cut
		}
	}
	if q.Before == 1 { // events start at seq 1
		return storage.AuditPage{Events: []audit.Event{}}, nil
	}
	if q.Key == "" && q.Action == "" {
		return s.auditScan(ctx, owner, q)
	}
	return s.auditIndexed(ctx, owner, q)
}

// untilScript answers a seq at or after which no event can be older than
// ARGV[2] minus the skew (0: none found), searching by rank among the
// events below seq ARGV[1] (0: all). An event's time, as Link stores it
// (UTC, to the millisecond), is compared as "YYYY-MM-DDTHH:MM:SS" and
// three digits of milliseconds; one stored otherwise never ends the search.
var untilScript = auditScript(`
local function at(r)
	local m = redis.call('ZRANGE', K_AUDIT, r, r)[1]
	local d, f = string.match(m, '"time":"(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)%.?(%d*)Z"')
	if not d then return nil end
	return d .. string.sub(f .. '000', 1, 3), tonumber(string.match(m, '^{"seq":(%d+),'))
end
local n = redis.call('ZCARD', K_AUDIT)
if ARGV[1] ~= '0' then n = redis.call('ZCOUNT', K_AUDIT, '-inf', '(' .. ARGV[1]) end
local lo, hi, found = 0, n - 1, 0
while lo <= hi do
	local mid = math.floor((lo + hi) / 2)
	local t, seq = at(mid)
	if t and seq and t >= ARGV[2] then
		found, hi = seq, mid - 1
	else
		lo = mid + 1
	end
end
return found
`)

// untilCut is the Before that q.Until allows: events are stored in seq
// order, each at most storage.AuditSkew older than those before it, so
// from an event at least Until + AuditSkew on, none is older than Until.
func (s *Store) untilCut(ctx context.Context, owner string, q storage.AuditQuery) (uint64, error) {
	t := q.Until.Add(storage.AuditSkew).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return 0, nil
	}
	at := t.Format("2006-01-02T15:04:05") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
	n, err := untilScript.Run(ctx, s.c, s.ownerKeys(owner), q.Before, at).Int64()
	if err != nil || n < 0 {
		return 0, err
	}
	return uint64(n), nil
}

// page is one answer being built: it takes events newest first until it
// holds q.Limit or one is older than Since allows.
type page struct {
	q        storage.AuditQuery
	out      storage.AuditPage
	scanned  int
	done     bool
	oldest   time.Time // Since - AuditSkew
	filtered bool      // by time
	grow     int       // the last batch
}

func newPage(q storage.AuditQuery) *page {
	p := &page{q: q, out: storage.AuditPage{Events: []audit.Event{}}}
	p.filtered = !q.Since.IsZero() || !q.Until.IsZero()
	if !q.Since.IsZero() {
		p.oldest = q.Since.Add(-storage.AuditSkew)
	}
	return p
}

// take examines e; more says whether an older event than e may follow.
func (p *page) take(e audit.Event, more bool) {
	p.scanned++
	if !p.oldest.IsZero() && e.Time.Before(p.oldest) {
		p.out.Next, p.done = 0, true // older events cannot match
		return
	}
	if !storage.MatchAudit(p.q, e) {
		return
	}
	p.out.Events = append(p.out.Events, e)
	if len(p.out.Events) == p.q.Limit {
		p.done = true
		if more {
			p.out.Next = e.Seq
		}
	}
}

// batch is how many candidates to read next: one more than a page needs
// when every candidate matches (so the page knows whether there are more),
// else as many, then twice as many each round, up to 1,000 a round trip,
// within AuditScanMax.
func (p *page) batch(allMatch bool) int {
	need := p.q.Limit - len(p.out.Events) + 1
	if allMatch {
		return min(need, storage.AuditScanMax-p.scanned+1)
	}
	p.grow = min(max(2*p.grow, need), 1000)
	return min(p.grow, storage.AuditScanMax-p.scanned)
}

// stop ends a page at the scan bound: the next one continues before seq.
func (p *page) stop(seq uint64) bool {
	if p.scanned < storage.AuditScanMax {
		return false
	}
	p.out.Next, p.done = seq, true
	return true
}

func beforeBound(before uint64) string {
	if before == 0 {
		return "+inf"
	}
	return "(" + strconv.FormatUint(before, 10)
}

// auditScan reads the log newest first from q.Before, filtering by time.
func (s *Store) auditScan(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	p := newPage(q)
	key := s.key(owner, keySuffixes[kAudit])
	before := q.Before
	for {
		n := p.batch(!p.filtered)
		ms, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: beforeBound(before), Stop: "-inf",
			ByScore: true, Rev: true, Count: int64(n)}).Result()
		if err != nil {
			return storage.AuditPage{}, err
		}
		for i, m := range ms {
			e, err := decodeEvent(m)
			if err != nil {
				return storage.AuditPage{}, err
			}
			before = e.Seq
			if p.take(e, i < len(ms)-1 || len(ms) == n); p.done || p.stop(e.Seq) {
				return p.out, nil
			}
		}
		if len(ms) < n {
			return p.out, nil
		}
	}
}

// auditIndexed reads candidates from the key or action index.
func (s *Store) auditIndexed(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	idx, prefix := s.key(owner, keySuffixes[kAidx]), "k"+q.Key
	if q.Key == "" {
		prefix = "a" + string(q.Action)
	}
	hi := "(" + prefix + "\x01"
	if q.Before > 0 {
		hi = "(" + prefix + "\x00" + seq20(q.Before)
	}
	lo := "[" + prefix + "\x00"
	if q.Key != "" && q.Action != "" {
		// Both filters: read the smaller index range.
		aidx, aprefix := idx, "a"+string(q.Action)
		ahi := "(" + aprefix + "\x01"
		if q.Before > 0 {
			ahi = "(" + aprefix + "\x00" + seq20(q.Before)
		}
		pipe := s.c.Pipeline()
		kn := pipe.ZLexCount(ctx, idx, lo, hi)
		an := pipe.ZLexCount(ctx, aidx, "["+aprefix+"\x00", ahi)
		if _, err := pipe.Exec(ctx); err != nil {
			return storage.AuditPage{}, err
		}
		if an.Val() < kn.Val() {
			idx, prefix, lo, hi = aidx, aprefix, "["+aprefix+"\x00", ahi
		}
		if min(an.Val(), kn.Val()) == 0 {
			return storage.AuditPage{Events: []audit.Event{}}, nil
		}
	}
	p := newPage(q)
	allMatch := !p.filtered && (q.Key == "" || q.Action == "")
	key := s.key(owner, keySuffixes[kAudit])
	for {
		n := p.batch(allMatch)
		ms, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, Start: hi, Stop: lo, ByLex: true, Rev: true, Count: int64(n)}).Result()
		if err != nil {
			return storage.AuditPage{}, err
		}
		fetch := len(ms)
		if allMatch {
			fetch = min(fetch, q.Limit-len(p.out.Events))
		}
		seqs := make([]uint64, 0, fetch)
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringSliceCmd, 0, fetch)
		for _, m := range ms[:fetch] {
			seq, err := strconv.ParseUint(m[max(len(m)-20, 0):], 10, 64)
			if err != nil || len(m) < 21 || m[len(m)-21] != 0 {
				return storage.AuditPage{}, errors.New("redis: a malformed audit index entry")
			}
			seqs = append(seqs, seq)
			at := strconv.FormatUint(seq, 10)
			cmds = append(cmds, pipe.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: at, Max: at}))
		}
		if len(cmds) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return storage.AuditPage{}, err
			}
		}
		for i, c := range cmds {
			more := i < len(ms)-1 || len(ms) == n
			if evs := c.Val(); len(evs) == 1 { // none: trimmed since the index was read
				e, err := decodeEvent(evs[0])
				if err != nil {
					return storage.AuditPage{}, err
				}
				if p.take(e, more); p.done {
					return p.out, nil
				}
			} else {
				p.scanned++
			}
			if !more {
				return p.out, nil
			}
			if p.stop(seqs[i]) {
				return p.out, nil
			}
		}
		if len(ms) < n {
			return p.out, nil
		}
		hi = "(" + prefix + "\x00" + seq20(seqs[len(seqs)-1])
	}
}
