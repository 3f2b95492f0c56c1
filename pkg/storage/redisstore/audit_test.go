package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

const (
	iAudit  = 6 // indexes in Store.Keys
	iAbytes = 8
	iAidx   = 9
)

// checkCounts: the bytes and indexes the scripts kept for owner's log are
// what counting and indexing its events from scratch gives.
func checkCounts(t *testing.T, s *redisstore.Store, owner string) {
	t.Helper()
	ctx := context.Background()
	raw := s.Client()
	keys := s.Keys(owner)
	snap := func() (string, []string) {
		b, _ := raw.Get(ctx, keys[iAbytes]).Result()
		k, _ := raw.ZRange(ctx, keys[iAidx], 0, -1).Result()
		return b, k
	}
	b1, k1 := snap()
	if _, err := s.ReindexAudit(ctx, owner); err != nil {
		t.Fatal(err)
	}
	b2, k2 := snap()
	if b1 != b2 || !slices.Equal(k1, k2) {
		t.Errorf("kept: %s bytes, %d index entries; counted from the events: %s, %d", b1, len(k1), b2, len(k2))
	}
	evs, err := storage.ReadAudit(ctx, s, owner)
	if err != nil {
		t.Fatal(err)
	}
	if got := usage(t, s, owner).AuditBytes; got != audittest.LogSize(evs) {
		t.Errorf("Usage.AuditBytes = %d; the %d events kept take %d", got, len(evs), audittest.LogSize(evs))
	}
}

func signer(t testing.TB) (*audit.Signer, audit.Keys) {
	sg := benchSigner(t)
	keys := audit.Keys{}
	keys.Add(sg.PublicKey())
	return sg, keys
}

// TestAuditUpgradeFromLayout2: a log that the release before the audit
// index wrote (events and head, no bytes, no indexes, layout 2) is counted
// and indexed when the store opens: Usage.AuditBytes is right at once, and
// the key and action filters find the old events.
func TestAuditUpgradeFromLayout2(t *testing.T) {
	ctx := context.Background()
	uri := storagetest.URI(t, "redis")
	prefix := storagetest.Unique("up") + ":"
	raw := rawClient(t, uri)
	owner := storagetest.Unique("o-")
	var head audit.Head
	var old []audit.Event
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("bulk/%02d", i)
	}
	for i := range 300 {
		e := audit.Event{Time: time.Now().Add(-time.Hour), Action: audit.Read, Keys: []string{fmt.Sprintf("k%d", i%30)}, Actor: "a", IP: "127.0.0.1", Status: 200}
		switch i {
		case 7:
			e.Action, e.Keys = audit.Delete, many // bounded to 16 by Link
		case 100:
			e.Action, e.Keys = audit.Write, []string{"rare", "k1"}
		}
		e, head = audit.Link(head, e)
		old = append(old, e)
		b, _ := json.Marshal(e)
		raw.ZAdd(ctx, prefix+"{"+owner+"}:audit", redis.Z{Score: float64(e.Seq), Member: b})
	}
	raw.Set(ctx, prefix+"{"+owner+"}:ahead", fmt.Sprintf("%d:%s", head.Seq, head.Hash), 0)
	raw.Set(ctx, prefix+"meta:"+redisstore.SchemaKey, "2", 0)

	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	s, err := redisstore.Open(ctx, uri+sep+redisstore.PrefixParam+"="+prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(ctx, redisstore.SchemaKey); err != nil || string(v) != "3" {
		t.Fatalf("schema version after open: %q, %v", v, err)
	}
	if got := usage(t, s, owner).AuditBytes; got != audittest.LogSize(old) {
		t.Errorf("Usage.AuditBytes after the upgrade = %d, want %d", got, audittest.LogSize(old))
	}
	p, err := s.Audit(ctx, owner, storage.AuditQuery{Limit: 50, Key: "rare"})
	if err != nil || len(p.Events) != 1 || p.Events[0].Seq != 101 || p.Next != 0 {
		t.Errorf("key filter over the old log: %+v, %v", p, err)
	}
	p, err = s.Audit(ctx, owner, storage.AuditQuery{Limit: 50, Key: "bulk/15"})
	if err != nil || len(p.Events) != 1 || p.Events[0].Seq != 8 {
		t.Errorf("key filter, a name kept of a bounded event: %+v, %v", p, err)
	}
	p, err = s.Audit(ctx, owner, storage.AuditQuery{Limit: 50, Key: "k1"})
	if err != nil || len(p.Events) != 11 { // seq 2, 32 … 272, and 101
		t.Errorf("key filter k1: %d events, %v", len(p.Events), err)
	}
	p, err = s.Audit(ctx, owner, storage.AuditQuery{Limit: 50, Action: audit.Delete})
	if err != nil || len(p.Events) != 1 || p.Events[0].Seq != 8 {
		t.Errorf("action filter over the old log: %+v, %v", p, err)
	}
	// Appends continue the count and the chain.
	sg, keys := signer(t)
	if err := s.AppendAudit(audit.WithSigner(ctx, sg), owner, []audit.Event{{Time: time.Now(), Action: audit.Read, Keys: []string{"rare"}}}); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, owner)
	all, _ := storage.ReadAudit(ctx, s, owner)
	// The log from before signing is adopted first (audit.Continue).
	if rep, err := audit.VerifySigned(all, owner, keys); err != nil || len(all) != 302 || rep.Adopted != 301 {
		t.Errorf("the log after the upgrade and one append: %d events (adopted at %d), %v", len(all), rep.Adopted, err)
	}
	// A backup of a release before events were bounded may hold an event
	// of many names: restored as it is, each of its names is indexed.
	unbounded := all[:3:3]
	names := make([]string, 1200)
	for i := range names {
		names[i] = fmt.Sprintf("n%04d", i)
	}
	unbounded[1].Keys, unbounded[1].KeyCount, unbounded[1].KeysDigest = names, 0, ""
	other := storagetest.Unique("o-")
	if err := s.ImportAudit(ctx, other, unbounded); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Audit(ctx, other, storage.AuditQuery{Limit: 10, Key: "n1150"}); err != nil || len(p.Events) != 1 || p.Events[0].Seq != 2 {
		t.Errorf("a name of a restored unbounded event: %+v, %v", p, err)
	}
	checkCounts(t, s, other)
}

// cmdCounter counts the commands a client sends and the audit events they
// read from one owner's log.
type cmdCounter struct {
	auditKey string
	cmds     atomic.Int64
	events   atomic.Int64
}

func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cmdCounter) count(cmd redis.Cmder) {
	switch cmd.Name() {
	case "hello", "select", "client", "auth", "cluster", "readonly":
		return // a new connection's handshake
	}
	c.cmds.Add(1)
	if ss, ok := cmd.(*redis.StringSliceCmd); ok && len(cmd.Args()) > 1 && cmd.Args()[1] == c.auditKey {
		c.events.Add(int64(len(ss.Val())))
	}
}

func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.count(cmd)
		return err
	}
}

func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return err
	}
}

// pagesMatch: following Next from page to page answers exactly the events
// of all that q matches, newest first.
func pagesMatch(t *testing.T, s storage.AuditLog, owner string, all []audit.Event, q storage.AuditQuery) {
	t.Helper()
	var want, got []uint64
	for _, e := range all {
		if (q.Before == 0 || e.Seq < q.Before) && storage.MatchAudit(q, e) {
			want = append(want, e.Seq)
		}
	}
	slices.Reverse(want)
	for range 1000 {
		p, err := s.Audit(context.Background(), owner, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			got = append(got, e.Seq)
		}
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("query %+v: %d events (%v…), want %d (%v…)", q, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
	}
}

func (c *cmdCounter) reset() { c.cmds.Store(0); c.events.Store(0) }

// TestAuditFilterBounded: over a log of 20,000 events, a key or action
// that matches nothing is answered by one command, with no event read and
// Next 0; a key held only by the oldest event is found in one call; a
// query no index answers reads at most AuditScanMax events and says where
// to continue.
func TestAuditFilterBounded(t *testing.T) { eachKind(t, testAuditFilterBounded) }

// eachKind runs test on one server and, when one is configured, a cluster.
func eachKind(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range []string{"redis", "redis_cluster"} {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

func testAuditFilterBounded(t *testing.T, backend string) {
	ctx := context.Background()
	s, _ := openOwnOn(t, backend)
	owner := storagetest.Unique("big-")
	const n = 20000
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for j := 0; j < n; j += 1000 {
		evs := make([]audit.Event, 1000)
		for i := range evs {
			evs[i] = audit.Event{Time: t0.Add(time.Duration(j+i) * 40 * time.Millisecond), Action: audit.Read,
				Keys: []string{fmt.Sprintf("k%d", (j+i)%100)}, Actor: "a", IP: "127.0.0.1", Status: 200}
			if j+i == 0 {
				evs[i].Action, evs[i].Keys = audit.Write, []string{"oldest"}
			}
		}
		if err := s.AppendAudit(ctx, owner, evs); err != nil {
			t.Fatal(err)
		}
	}
	all, err := storage.ReadAudit(ctx, s, owner)
	if err != nil || len(all) != n {
		t.Fatalf("%d events, %v", len(all), err)
	}
	for _, q := range []storage.AuditQuery{
		{Limit: 70, Until: t0.Add(400 * time.Second)},
		{Limit: 1000, Until: t0.Add(799*time.Second + 123*time.Millisecond), Since: t0.Add(100 * time.Second)},
		{Limit: 50, Key: "k7", Until: t0.Add(500 * time.Second), Since: t0.Add(300 * time.Second)},
		{Limit: 3, Action: audit.Read, Until: t0.Add(10 * time.Second)},
		{Limit: 100, Key: "k3", Action: audit.Read, Before: 15000},
	} {
		pagesMatch(t, s, owner, all, q)
	}
	c := &cmdCounter{auditKey: s.Keys(owner)[iAudit]}
	s.AddHook(c)
	for _, tc := range []struct {
		name       string
		q          storage.AuditQuery
		events     int
		next       bool
		cmds, read int64
		firstSeq   uint64
	}{
		{name: "absent key", q: storage.AuditQuery{Limit: 1, Key: "does-not-exist"}, cmds: 1},
		{name: "absent key, cursor", q: storage.AuditQuery{Limit: 1000, Key: "does-not-exist", Before: 12345}, cmds: 1},
		{name: "absent action", q: storage.AuditQuery{Limit: 1, Action: audit.Login}, cmds: 1},
		{name: "key and absent action", q: storage.AuditQuery{Limit: 10, Key: "k5", Action: audit.List}, cmds: 2},
		{name: "key and action", q: storage.AuditQuery{Limit: 10, Key: "k5", Action: audit.Read}, events: 10, next: true, cmds: 14, read: 11, firstSeq: 19906},
		{name: "oldest key", q: storage.AuditQuery{Limit: 10, Key: "oldest"}, events: 1, cmds: 2, read: 1, firstSeq: 1},
		{name: "oldest action", q: storage.AuditQuery{Limit: 10, Action: audit.Write}, events: 1, cmds: 2, read: 1, firstSeq: 1},
		{name: "key page", q: storage.AuditQuery{Limit: 5, Key: "k42"}, events: 5, next: true, cmds: 6, read: 5, firstSeq: 19943},
		{name: "unfiltered page", q: storage.AuditQuery{Limit: 5}, events: 5, next: true, cmds: 1, read: 6, firstSeq: n},
		{name: "until in the past", q: storage.AuditQuery{Limit: 5, Until: t0.Add(-time.Hour)}, cmds: 1},
		// From Until + AuditSkew on (seq 11501) no event can match: the scan
		// starts there, not at the newest event.
		{name: "until in the middle", q: storage.AuditQuery{Limit: 5, Until: t0.Add(400 * time.Second)}, events: 5, next: true,
			cmds: 12, read: 2600, firstSeq: 10000},
		// A window between two events: from Until + AuditSkew down to
		// Since - AuditSkew, 3,000 events.
		{name: "empty time window", q: storage.AuditQuery{Limit: 5, Since: t0.Add(400*time.Second + time.Millisecond), Until: t0.Add(400*time.Second + 20*time.Millisecond)},
			cmds: 12, read: 3600},
		{name: "since in the future", q: storage.AuditQuery{Limit: 5, Since: time.Now().Add(time.Hour)}, cmds: 1, read: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.reset()
			p, err := s.Audit(ctx, owner, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) != tc.events || (p.Next != 0) != tc.next {
				t.Errorf("%d events, Next %d; want %d events, Next set %v", len(p.Events), p.Next, tc.events, tc.next)
			}
			if tc.firstSeq != 0 && (len(p.Events) == 0 || p.Events[0].Seq != tc.firstSeq) {
				t.Errorf("first event %+v, want seq %d", p.Events, tc.firstSeq)
			}
			if got := c.cmds.Load(); got > tc.cmds {
				t.Errorf("%d commands, want at most %d", got, tc.cmds)
			}
			if got := c.events.Load(); got > tc.read {
				t.Errorf("read %d events, want at most %d", got, tc.read)
			}
		})
	}
}

// TestAuditQuotaTrim: under Quota.AuditBytes, appenders racing on one
// owner (appends of one to three events, commits, destroys) are never
// refused; the oldest events go with a signed quota trim in the append's
// own script, so a reader never sees a log that fails to verify; the
// bytes kept stay within the quota and equal what the events take.
func TestAuditQuotaTrim(t *testing.T) { eachKind(t, testAuditQuotaTrim) }

func testAuditQuotaTrim(t *testing.T, backend string) {
	s, _ := openOwnOn(t, backend)
	const quota = 20000
	s.SetQuota(storage.Quota{AuditBytes: quota})
	sg, keys := signer(t)
	ctx := audit.WithSigner(context.Background(), sg)
	ev := func(g, i int) audit.Event {
		return audit.Event{Time: time.Now(), Action: audit.Read, Keys: []string{fmt.Sprintf("g%d/%d", g, i)},
			Actor: "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV", IP: "203.0.113.7", Status: 200}
	}

	t.Run("racing", func(t *testing.T) {
		owner := storagetest.Unique("quota-")
		stop := make(chan struct{})
		var reads atomic.Int64
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() { // a reader: every snapshot of the log verifies
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := s.Audit(ctx, owner, storage.AuditQuery{Limit: storage.AuditPageMax})
				if err != nil {
					t.Error(err)
					return
				}
				if p.Next != 0 {
					t.Errorf("the log outgrew one page: %d events, next %d", len(p.Events), p.Next)
					return
				}
				if len(p.Events) == 0 {
					continue
				}
				slices.Reverse(p.Events)
				if _, err := audit.VerifySigned(p.Events, owner, keys); err != nil {
					t.Errorf("a reader saw a log that does not verify: %v", err)
					return
				}
				reads.Add(1)
			}
		}()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 120 {
					var err error
					switch i % 4 {
					case 0, 1:
						evs := []audit.Event{ev(g, i)}
						for range i % 3 {
							evs = append(evs, ev(g, i))
						}
						err = s.AppendAudit(ctx, owner, evs)
					case 2:
						e := ev(g, i)
						e.Action = audit.Write
						_, err = s.Commit(ctx, storage.Commit{Owner: owner, Event: &e, Changes: []storage.Change{set(e.Keys[0], "v")}})
					case 3:
						e := ev(g, i)
						e.Action = audit.Delete
						err = s.Destroy(ctx, owner, []string{fmt.Sprintf("g%d/%d", g, i-1)}, &e)
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		rwg.Wait()
		if reads.Load() == 0 {
			t.Error("the reader saw nothing")
		}
		all, err := storage.ReadAudit(ctx, s, owner)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := audit.VerifySigned(all, owner, keys)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Start == nil || rep.Start.Trimmed.Reason != audit.TrimQuota || all[0].Seq == 1 {
			t.Errorf("no quota trim accounts for the log's start: %+v", rep.Start)
		}
		if got := usage(t, s, owner).AuditBytes; got > quota || got != audittest.LogSize(all) {
			t.Errorf("Usage.AuditBytes = %d; the events take %d; the quota is %d", got, audittest.LogSize(all), quota)
		}
		if last := all[len(all)-1]; last.Seq < 4*120 {
			t.Errorf("the head is seq %d: appends were lost", last.Seq)
		}
		checkCounts(t, s, owner)
	})

	t.Run("down to three quarters", func(t *testing.T) {
		owner := storagetest.Unique("quota-")
		var before int64
		for i := 0; ; i++ {
			if err := s.AppendAudit(ctx, owner, []audit.Event{ev(0, i)}); err != nil {
				t.Fatal(err)
			}
			u := usage(t, s, owner).AuditBytes
			if u < before {
				if u > quota*3/4 {
					t.Errorf("after a trim the log takes %d bytes, over three quarters of %d", u, quota)
				}
				break
			}
			if u > quota {
				t.Fatalf("the log takes %d bytes, over the quota %d, untrimmed", u, quota)
			}
			before = u
		}
		all, _ := storage.ReadAudit(ctx, s, owner)
		last := all[len(all)-1]
		if last.Action != audit.Trim || last.Trimmed.Reason != audit.TrimQuota || last.Sig == "" {
			t.Errorf("the newest event is %+v, want a signed quota trim", last)
		}
		if prev := all[len(all)-2]; prev.Keys[0] != fmt.Sprintf("g0/%d", last.Seq-2) {
			t.Errorf("the append that triggered the trim lost its event: %+v", prev)
		}
		if _, err := audit.VerifySigned(all, owner, keys); err != nil {
			t.Fatal(err)
		}
		// A key filter no longer finds the trimmed events.
		if p, _ := s.Audit(ctx, owner, storage.AuditQuery{Limit: 10, Key: "g0/0"}); len(p.Events) != 0 {
			t.Errorf("a trimmed event is still found by its key: %+v", p.Events)
		}
		checkCounts(t, s, owner)
	})

	t.Run("an append larger than the quota", func(t *testing.T) {
		owner := storagetest.Unique("quota-")
		if err := s.AppendAudit(ctx, owner, []audit.Event{ev(0, 0), ev(0, 1)}); err != nil {
			t.Fatal(err)
		}
		big := make([]audit.Event, 100) // ~ 30 KB: more than the quota
		for i := range big {
			big[i] = ev(1, i)
		}
		if err := s.AppendAudit(ctx, owner, big); err != nil {
			t.Fatalf("an append over the quota was refused: %v", err)
		}
		all, _ := storage.ReadAudit(ctx, s, owner)
		if len(all) != 101 || all[0].Seq != 3 || all[100].Trimmed == nil || all[100].Trimmed.FirstSeq != 3 {
			t.Fatalf("after an append larger than the quota: %d events from seq %d", len(all), all[0].Seq)
		}
		if _, err := audit.VerifySigned(all, owner, keys); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, s, owner)
	})
}

// TestAuditRetentionTrim: retention removes old events (more than one
// script's worth) with their index entries and bytes, and records a
// signed retention trim that VerifySigned accepts.
func TestAuditRetentionTrim(t *testing.T) { eachKind(t, testAuditRetentionTrim) }

func testAuditRetentionTrim(t *testing.T, backend string) {
	s, _ := openOwnOn(t, backend)
	raw := s.Client()
	sg, keys := signer(t)
	ctx := audit.WithSigner(context.Background(), sg)
	owner := storagetest.Unique("ret-")
	old := time.Now().Add(-48 * time.Hour)
	for j := 0; j < 2500; j += 500 {
		evs := make([]audit.Event, 500)
		for i := range evs {
			evs[i] = audit.Event{Time: old, Action: audit.Read, Keys: []string{"old", fmt.Sprint(i)}, Actor: "a", Status: 200}
		}
		if err := s.AppendAudit(ctx, owner, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, owner, []audit.Event{{Time: time.Now(), Action: audit.List, Keys: []string{"new"}}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-24 * time.Hour)
	if err := s.TrimAudit(ctx, before); err != nil {
		t.Fatal(err)
	}
	all, err := storage.ReadAudit(ctx, s, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Seq != 2501 || all[1].Trimmed == nil || all[1].Trimmed.Reason != audit.TrimRetention {
		t.Fatalf("after the trim: %+v", all)
	}
	if _, err := audit.VerifySigned(all, owner, keys); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Audit(ctx, owner, storage.AuditQuery{Limit: 10, Key: "old"}); len(p.Events) != 0 || p.Next != 0 {
		t.Errorf("trimmed events still found by key: %d, next %d", len(p.Events), p.Next)
	}
	if n, _ := raw.ZCard(ctx, s.Keys(owner)[iAidx]).Result(); n != 3 { // new, list, trim
		t.Errorf("the index holds %d entries, want 3", n)
	}
	if r := all[1].Trimmed.Retention; r < 24*time.Hour || r > 25*time.Hour {
		t.Errorf("the trim records a retention of %s, want 24h", r)
	}
	checkCounts(t, s, owner)
}
