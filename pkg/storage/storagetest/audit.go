package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The audit cases of issue 19: every append path signs its newest event,
// an event is bounded whatever the request named, queries are answered a
// bounded page at a time, and the log's bytes are counted and capped.

// testSigner is the signer of these cases: a fixed seed, so a failure
// prints the same signatures twice.
func testSigner(t *testing.T) (*audit.Signer, audit.Keys) {
	t.Helper()
	return audittest.Signer(t, "storagetest audit signer")
}

// ReadLog is owner's whole audit log (storage.ReadAudit); an error fails t.
func ReadLog(t *testing.T, s storage.AuditLog, owner string) []audit.Event {
	t.Helper()
	log, err := storage.ReadAudit(context.Background(), s, owner)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// signed is ctxT carrying the test signer, as the seal layer sends it.
func signed(t *testing.T) (context.Context, audit.Keys) {
	s, keys := testSigner(t)
	return audit.WithSigner(ctxT(t), s), keys
}

// verifySigned fails t unless the owner's whole log verifies and the
// server's signature vouches for all of it.
func verifySigned(t *testing.T, s storage.AuditLog, owner string, keys audit.Keys) []audit.Event {
	t.Helper()
	if own, ok := selfSigned(s); ok {
		keys = own
	}
	log := allEvents(t, s, owner, 50)
	if _, err := audit.VerifySigned(log, owner, keys); err != nil {
		t.Fatalf("VerifySigned: %v\nlog: %s", err, describeEvents(log))
	}
	return log
}

// selfSigned reports whether s is a whole stack whose seal layer signs
// with its own key (the backends' TestStack runs these cases on one), and
// that key: its signer is nearer the backend than the test's.
func selfSigned(s any) (audit.Keys, bool) {
	k, ok := s.(interface{ AuditKeys() []audit.PublicKey })
	if !ok {
		return nil, false
	}
	keys := audit.Keys{}
	for _, pk := range k.AuditKeys() {
		keys.Add(pk)
	}
	return keys, true
}

func describeEvents(log []audit.Event) string {
	var b strings.Builder
	for _, e := range log {
		keys := fmt.Sprint(e.Keys)
		if len(keys) > 80 {
			keys = fmt.Sprintf("[%d names]", len(e.Keys))
		}
		fmt.Fprintf(&b, "\n  %d %s %s sig=%t", e.Seq, e.Action, keys, e.Sig != "")
	}
	return b.String()
}

// testAuditSigned: the newest event of every append path is signed:
// AppendAudit, Commit with an event, Destroy with an event. (A backend
// without transactions signs every event, so that a writer racing an
// append half-inserted finds a signed head: audit.Continue.)
func testAuditSigned(t *testing.T, s storage.HistoryStore, owner string) {
	ctx, keys := signed(t)
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev(audit.Read, "a"), ev(audit.Read, "b"), ev(audit.List, "a", "b")}); err != nil {
		t.Fatal(err)
	}
	w := ev(audit.Write, "k")
	if _, err := s.Commit(ctx, storage.Commit{Owner: owner, By: by, Changes: []storage.Change{set("k", "v")}, Event: &w}); err != nil {
		t.Fatal(err)
	}
	d := ev(audit.Delete, "k")
	if err := s.Destroy(ctx, owner, []string{"k"}, &d); err != nil {
		t.Fatal(err)
	}
	log := verifySigned(t, s, owner, keys)
	var got []uint64
	for _, e := range log {
		if e.Sig != "" {
			got = append(got, e.Seq)
		}
	}
	if want := []uint64{3, 4, 5}; !slices.Equal(got, want) && !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("signed events %v, want the newest of each append %v (or every event)%s", got, want, describeEvents(log))
	}
	// An append without a signer (a tool below the seal layer) leaves its
	// event unsigned, and the log no longer verifies as the server's.
	if _, stack := selfSigned(s); stack {
		return // the seal layer signs every append
	}
	if err := s.AppendAudit(ctxT(t), owner, []audit.Event{ev(audit.Read, "forged")}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifySigned(allEvents(t, s, owner, 50), owner, keys); err == nil {
		t.Error("an unsigned newest event verified as the server's")
	}
}

// testAuditBounded: an event about 1,900 names keeps 16 of them, the
// count and the digest, and costs what an event about a few names costs.
func testAuditBounded(t *testing.T, s storage.HistoryStore, owner string) {
	ctx, keys := signed(t)
	names := make([]string, 1900)
	for i := range names {
		names[i] = fmt.Sprintf("%0512d", i)
	}
	if err := s.AppendAudit(ctx, owner, []audit.Event{ev(audit.Delete, names...)}); err != nil {
		t.Fatal(err)
	}
	log := verifySigned(t, s, owner, keys)
	e := log[len(log)-1]
	if len(e.Keys) != audit.MaxKeys || e.KeyCount != 1900 || e.KeysDigest != audit.DigestKeys(names) || e.Keys[0] != names[0] {
		t.Errorf("bounded event: %d keys, count %d, digest %q", len(e.Keys), e.KeyCount, e.KeysDigest)
	}
	if n := audit.StoredSize(e); n > 10_000 {
		t.Errorf("an event of 1,900 names of 512 bytes takes %d bytes", n)
	}
}

// auditLog appends n events to owner's log in batches: event i reads the
// key "k<i%7>" (and "target" when i%50 == 0), its action a write every
// third event, and returns them as appended.
func auditLog(t *testing.T, s storage.AuditLog, ctx context.Context, owner string, n int) []audit.Event {
	t.Helper()
	var all []audit.Event
	for start := 0; start < n; start += 500 {
		batch := make([]audit.Event, 0, 500)
		for i := start; i < min(n, start+500); i++ {
			e := ev(audit.Read, fmt.Sprintf("k%d", i%7))
			if i%3 == 0 {
				e.Action = audit.Write
			}
			if i%50 == 0 {
				e.Keys = append(e.Keys, "target")
			}
			e.Actor = fmt.Sprint(i)
			batch = append(batch, e)
		}
		if err := s.AppendAudit(ctx, owner, batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	return all
}

// query follows q's pages to the end, failing t if it takes more than
// maxCalls calls or a page breaks the contract; it answers the actors of
// the events found, newest first.
func query(t *testing.T, s storage.AuditLog, owner string, q storage.AuditQuery, maxCalls int) []string {
	t.Helper()
	var out []string
	for calls := 1; ; calls++ {
		p, err := s.Audit(ctxT(t), owner, q)
		if err != nil {
			t.Fatalf("Audit(%+v): %v", q, err)
		}
		if len(p.Events) > q.Limit {
			t.Fatalf("Audit(%+v): %d events, over the limit", q, len(p.Events))
		}
		for i, e := range p.Events {
			if !storage.MatchAudit(q, e) || q.Before != 0 && e.Seq >= q.Before || i > 0 && e.Seq >= p.Events[i-1].Seq {
				t.Fatalf("Audit(%+v): event %d (%s %v) does not belong on this page", q, e.Seq, e.Action, e.Keys)
			}
			out = append(out, e.Actor)
		}
		if p.Next == 0 {
			return out
		}
		if q.Before != 0 && p.Next >= q.Before {
			t.Fatalf("Audit(%+v): Next %d does not move on", q, p.Next)
		}
		if calls == maxCalls {
			t.Fatalf("Audit(%+v): still a Next after %d calls", q, calls)
		}
		q.Before = p.Next
	}
}

// testAuditQuery: key, action and time filters answer exactly the
// matching events, newest first, page by page.
func testAuditQuery(t *testing.T, s storage.HistoryStore, owner string) {
	ctx, _ := signed(t)
	all := auditLog(t, s, ctx, owner, 600)
	want := func(match func(i int, e audit.Event) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if match(i, all[i]) {
				out = append(out, all[i].Actor)
			}
		}
		return out
	}
	check := func(name string, q storage.AuditQuery, match func(i int, e audit.Event) bool) {
		t.Helper()
		if got, w := query(t, s, owner, q, 700), want(match); !slices.Equal(got, w) {
			t.Errorf("%s: got %d events %v…, want %d %v…", name, len(got), head(got), len(w), head(w))
		}
	}
	check("key, pages of 3", storage.AuditQuery{Limit: 3, Key: "target"}, func(i int, _ audit.Event) bool { return i%50 == 0 })
	check("key", storage.AuditQuery{Limit: 1000, Key: "k3"}, func(i int, _ audit.Event) bool { return i%7 == 3 })
	check("action", storage.AuditQuery{Limit: 100, Action: audit.Write}, func(i int, _ audit.Event) bool { return i%3 == 0 })
	check("key and action", storage.AuditQuery{Limit: 7, Key: "target", Action: audit.Read}, func(i int, _ audit.Event) bool { return i%50 == 0 && i%3 != 0 })
	check("no match", storage.AuditQuery{Limit: 10, Key: "absent"}, func(int, audit.Event) bool { return false })
	check("unfiltered", storage.AuditQuery{Limit: 256}, func(int, audit.Event) bool { return true })

	// Time bounds: the events stored from now on are the only ones since.
	waitNextMilli(time.Now())
	since := time.Now()
	waitNextMilli(since)
	later := auditLog(t, s, ctx, owner, 10)
	var laterActors []string
	for i := len(later) - 1; i >= 0; i-- {
		laterActors = append(laterActors, later[i].Actor)
	}
	if got := query(t, s, owner, storage.AuditQuery{Limit: 4, Since: since}, 10); !slices.Equal(got, laterActors) {
		t.Errorf("since: %v, want %v", got, laterActors)
	}
	if got := query(t, s, owner, storage.AuditQuery{Limit: 1000, Until: since}, 10); len(got) != len(all) {
		t.Errorf("until: %d events, want %d", len(got), len(all))
	}
	// Another owner's key never shows.
	if got := query(t, s, Unique("nobody-"), storage.AuditQuery{Limit: 10, Key: "target"}, 1); len(got) != 0 {
		t.Errorf("another owner's log: %v", got)
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// testAuditScanBound: a key filter that matches nothing in a log longer
// than one call may read ends in a few calls, each answering nothing.
func testAuditScanBound(t *testing.T, s storage.HistoryStore, owner string) {
	ctx, _ := signed(t)
	auditLog(t, s, ctx, owner, storage.AuditScanMax+1500)
	if got := query(t, s, owner, storage.AuditQuery{Limit: 1, Key: "does-not-exist"}, 3); len(got) != 0 {
		t.Errorf("found %v", got)
	}
	if p, err := s.Audit(ctxT(t), owner, storage.AuditQuery{Limit: 1, Key: "target"}); err != nil || len(p.Events) != 1 || p.Next == 0 {
		t.Errorf("limit 1 of a key: %+v, %v", p, err)
	}
}

// testAuditQuota: the log's bytes are counted; past AuditBytes the oldest
// events go, a signed quota trim says so, and no append is refused.
func testAuditQuota(t *testing.T, s storage.HistoryStore, q storage.Quotas, owner string) {
	ctx, keys := signed(t)
	var appended []audit.Event
	for i := range 200 {
		e := ev(audit.Read, fmt.Sprintf("key-%03d", i))
		if err := s.AppendAudit(ctx, owner, []audit.Event{e}); err != nil {
			t.Fatalf("append %d refused: %v", i, err)
		}
		appended = append(appended, e)
	}
	log := verifySigned(t, s, owner, keys)
	sum := audittest.LogSize(log)
	u, err := q.Usage(ctxT(t), owner)
	if err != nil {
		t.Fatal(err)
	}
	if u.AuditBytes != sum {
		t.Errorf("Usage.AuditBytes %d, the kept events take %d", u.AuditBytes, sum)
	}
	if u.AuditBytes > quotaAuditBytes {
		t.Errorf("audit bytes %d past the quota %d", u.AuditBytes, quotaAuditBytes)
	}
	if log[0].Seq == 1 {
		t.Fatalf("200 events of ~250 bytes under a quota of %d: nothing trimmed", quotaAuditBytes)
	}
	var trim *audit.Event
	for i := range log {
		if log[i].Action == audit.Trim {
			trim = &log[i]
		}
	}
	if trim == nil || trim.Trimmed.Reason != audit.TrimQuota {
		t.Fatalf("no quota trim in the log:%s", describeEvents(log))
	}
	// The trim goes after the append that made it, which is kept whole.
	last := log[len(log)-1]
	if last.Action == audit.Trim {
		last = log[len(log)-2]
	}
	if !slices.Equal(last.Keys, appended[len(appended)-1].Keys) {
		t.Errorf("the newest event is %s %v, not the last appended", last.Action, last.Keys)
	}
}

// testPurgeKeepsLive: a name whose only version is older than the cut is
// live: purging history never removes it.
func testPurgeKeepsLive(t *testing.T, s storage.HistoryStore, owner string) {
	commit(t, s, owner, set("old-live", "kept"))
	commit(t, s, owner, set("old-twice", "1"))
	commit(t, s, owner, set("old-twice", "2"))
	waitNextMilli(getVersion(t, s, owner, "old-twice", 0).CreatedAt)
	cut := time.Now()
	waitNextMilli(cut)
	if err := s.PurgeHistory(ctxT(t), cut); err != nil {
		t.Fatal(err)
	}
	if sec := mustGet(t, s, owner, "old-live"); string(sec.Value) != "kept" {
		t.Errorf("a live name older than the cut: %q", sec.Value)
	}
	if got := versionNumbers(t, s, owner, "old-live"); !slices.Equal(got, []int64{1}) {
		t.Errorf("versions of a live name older than the cut: %v", got)
	}
	if got := versionNumbers(t, s, owner, "old-twice"); !slices.Equal(got, []int64{2}) {
		t.Errorf("a live name's older versions: %v, want [2]", got)
	}
	if sec := mustGet(t, s, owner, "old-twice"); string(sec.Value) != "2" {
		t.Errorf("a live name's value after purge: %q", sec.Value)
	}
}
