package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

func seedSigner(t *testing.T, b byte) *audit.Signer {
	t.Helper()
	s, err := audit.NewSigner(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keysOf(ss ...*audit.Signer) audit.Keys {
	ks := audit.Keys{}
	for _, s := range ss {
		ks.Add(s.PublicKey())
	}
	return ks
}

// signedLog appends events to log as the server does: each append's
// newest event signed by s (sign false: stored by someone without it).
type signedLog struct {
	t      *testing.T
	events []audit.Event
}

func (l *signedLog) head() audit.Head {
	if n := len(l.events); n > 0 {
		return audit.Head{Seq: l.events[n-1].Seq, Hash: l.events[n-1].Hash}
	}
	return audit.Head{}
}

func (l *signedLog) add(s *audit.Signer, evs ...audit.Event) {
	head := l.head()
	for i, e := range evs {
		e, head = audit.Link(head, e)
		if s != nil && i == len(evs)-1 {
			s.Sign(owner, &e)
		}
		l.events = append(l.events, e)
	}
}

func hourly(i int) audit.Event {
	return audit.Event{Time: t0.Add(time.Duration(i) * time.Hour), Action: audit.Read, Keys: []string{"k"},
		Actor: node, IP: "127.0.0.1", Status: 200}
}

// trimmed is the log of 8 reads (appended two by two) after a signed
// retention trim of the first 4, with the events still in the slice.
func trimmed(t *testing.T, s *audit.Signer) *signedLog {
	l := &signedLog{t: t}
	for i := 0; i < 8; i += 2 {
		l.add(s, hourly(i), hourly(i+1))
	}
	now := t0.Add(100 * 24 * time.Hour)
	l.add(s, audit.RetentionTrim(now, 5, l.events[4].PrevHash, now.Add(-90*24*time.Hour), 90*24*time.Hour))
	return l
}

func TestVerifySignedReport(t *testing.T) {
	s, other := seedSigner(t, 1), seedSigner(t, 2)
	l := trimmed(t, s)
	kept := l.events[4:]
	rep, err := audit.VerifySigned(kept, owner, keysOf(s))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Vouched != 9 || rep.SigKey != s.PublicKey().ID || rep.Start == nil || rep.Start.Seq != 9 {
		t.Errorf("report %+v", rep)
	}
	if _, err := audit.VerifySigned(kept, owner, keysOf(other)); !errors.Is(err, audit.ErrUnsigned) {
		t.Errorf("verified with another key: %v", err)
	}
	if _, err := audit.VerifySigned(kept, "someone-else", keysOf(s)); err == nil {
		t.Error("a signature over another owner's log accepted")
	}

	// Unsigned events after the newest signature: appended by the store.
	forged := &signedLog{t: t, events: append([]audit.Event(nil), kept...)}
	forged.add(nil, hourly(20))
	if _, err := audit.VerifySigned(forged.events, owner, keysOf(s)); !errors.Is(err, audit.ErrUnsigned) {
		t.Errorf("an unsigned newest event: %v", err)
	}

	// An event rewritten and every later hash recomputed, signatures kept
	// as they were: the signature of an event after it no longer matches.
	rewritten := &signedLog{t: t}
	for i, e := range l.events[:8] {
		sig, key := e.Sig, e.SigKey
		if i == 2 {
			e.Actor = owner // a node's read passed off as the owner's
		}
		rewritten.add(nil, e)
		rewritten.events[i].Sig, rewritten.events[i].SigKey = sig, key
	}
	if _, err := audit.VerifySigned(rewritten.events, owner, keysOf(s)); err == nil || !strings.Contains(err.Error(), "signature does not match") {
		t.Errorf("a rewritten log: %v", err)
	}
}

// The start of the log deleted by the store's operator, with a trim record
// appended after it: a later signed event links onto it, but the trim
// itself carries no signature of the server's.
func TestVerifySignedForgedTrim(t *testing.T) {
	s := seedSigner(t, 1)
	l := &signedLog{t: t}
	for i := 0; i < 8; i += 2 {
		l.add(s, hourly(i), hourly(i+1))
	}
	noted := l.head() // seq 8
	// The operator deletes events 1 to 8 and appends a trim claiming them.
	evil := &signedLog{t: t, events: append([]audit.Event(nil), l.events...)}
	evil.add(nil, audit.RetentionTrim(t0.Add(200*24*time.Hour), 9, l.events[7].Hash, t0.Add(110*24*time.Hour), 90*24*time.Hour))
	// The owner's next sign-in: the server signs the head it finds.
	evil.add(s, hourly(30))
	log := evil.events[8:]
	if _, err := audit.Verify(log); err != nil {
		t.Fatalf("the chain alone: %v", err)
	}
	_, err := audit.VerifySigned(log, owner, keysOf(s))
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Seq != 9 || !strings.Contains(ce.Reason, "no valid signature") {
		t.Fatalf("VerifySigned of a log with a forged trim = %v", err)
	}
	// Without the rule above, the noted head would pass as removed by retention.
	rep := audit.Report{Head: audit.Head{Seq: 10, Hash: log[1].Hash}, Vouched: 10, Start: &log[0]}
	var hte *audit.HeadTrimmedError
	if err := audit.CheckHeadSigned(log, rep, noted); !errors.As(err, &hte) {
		t.Fatalf("CheckHeadSigned with a start = %v", err)
	}
}

func TestCheckHeadSigned(t *testing.T) {
	s := seedSigner(t, 1)
	l := trimmed(t, s)
	kept := l.events[4:]
	rep, err := audit.VerifySigned(kept, owner, keysOf(s))
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) audit.Head { return audit.Head{Seq: l.events[i].Seq, Hash: l.events[i].Hash} }
	if err := audit.CheckHeadSigned(kept, rep, at(6)); err != nil {
		t.Errorf("a kept head: %v", err)
	}
	var hte *audit.HeadTrimmedError
	if err := audit.CheckHeadSigned(kept, rep, at(1)); !errors.As(err, &hte) || hte.Trim.Seq != 9 {
		t.Errorf("a head removed by retention: %v", err)
	} else if msg := hte.Error(); !strings.Contains(msg, "removed by retention") || !strings.Contains(msg, "seq 2") {
		t.Errorf("notice %q", msg)
	}
	// Finding 7: the noted head is the first event retention kept, with
	// another hash: that is a rewrite, not a trim.
	first := at(4)
	first.Hash = strings.Repeat("ab", 32)
	if err := audit.CheckHeadSigned(kept, rep, first); err == nil || errors.As(err, &hte) || !strings.Contains(err.Error(), "rewritten") {
		t.Errorf("a noted head equal to the first kept event with another hash: %v", err)
	}
	if err := audit.CheckHeadSigned(kept, rep, at(4)); err != nil {
		t.Errorf("the first kept event as noted: %v", err)
	}
	// A head past the end: the newest events were removed.
	if err := audit.CheckHeadSigned(kept[:3], rep, at(8)); err == nil || !strings.Contains(err.Error(), "newer events were removed") {
		t.Errorf("a head past the end: %v", err)
	}
	// A head older than the start with no trim: truncated.
	if err := audit.CheckHeadSigned(kept, audit.Report{Head: rep.Head, Vouched: rep.Vouched}, at(1)); err == nil || errors.As(err, &hte) {
		t.Errorf("a vanished head without a trim: %v", err)
	}
}

// A rekey: the old key's signatures stay valid through the Rekey event
// that the new key signs, even when only the new key is trusted.
func TestVerifySignedRekeyedStartTrim(t *testing.T) {
	old, nu := seedSigner(t, 1), seedSigner(t, 2)
	l := trimmed(t, old) // the start trim is signed by the old key
	l.add(nu, audit.Event{Time: t0.Add(101 * 24 * time.Hour), Action: audit.Rekey, Keys: []string{},
		Vouch: []string{old.PublicKey().String()}})
	l.add(nu, hourly(2500))
	kept := l.events[4:]
	rep, err := audit.VerifySigned(kept, owner, keysOf(nu))
	if err != nil {
		t.Fatal(err)
	}
	if rep.SigKey != nu.PublicKey().ID {
		t.Errorf("vouched by %s", rep.SigKey)
	}
	// Without the Rekey event the old key is unknown.
	if _, err := audit.VerifySigned(kept[:5], owner, keysOf(nu)); err == nil {
		t.Error("a log signed by the old key only verified with the new key")
	}
}

// A whole log recomputed from a changed event verifies by itself, and
// signed again by the server, but not against a head noted before.
func TestCheckHeadSignedForgedLog(t *testing.T) {
	s := seedSigner(t, 1)
	l := &signedLog{t: t}
	for i := range 5 {
		l.add(s, hourly(i))
	}
	noted := audit.Head{Seq: 3, Hash: l.events[2].Hash}
	forged := &signedLog{t: t}
	for i, e := range l.events {
		e.Sig, e.SigKey = "", ""
		if i == 1 {
			e.Status = 403
		}
		forged.add(s, e)
	}
	rep, err := audit.VerifySigned(forged.events, owner, keysOf(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.CheckHeadSigned(forged.events, rep, noted); err == nil || !strings.Contains(err.Error(), "rewritten") {
		t.Errorf("rewritten log: %v", err)
	}
	if err := audit.CheckHeadSigned(l.events, rep, noted); err != nil {
		t.Errorf("the log as written: %v", err)
	}
}

// serverAppend appends events to log as a backend does under a signing
// ctx: Continue on the head as stored (ContinueLog), then link, then sign
// the newest.
func serverAppend(t *testing.T, ctx context.Context, log []audit.Event, events ...audit.Event) []audit.Event {
	t.Helper()
	first, err := audit.ContinueLog(ctx, owner, log)
	if err != nil {
		t.Fatal(err)
	}
	var head audit.Head
	if n := len(log); n > 0 {
		head = audit.Head{Seq: log[n-1].Seq, Hash: log[n-1].Hash}
	}
	for _, e := range audit.Prepend(first, events) {
		e, head = audit.Link(head, e)
		log = append(log, e)
	}
	audit.SignHead(ctx, owner, &log[len(log)-1])
	return log
}

// The server signs only on top of a head it signed: a forged, unsigned
// head gets a Break (the log never verifies again), a log never signed
// one Adopt (it verifies, reported), a head of a key it trusts nothing.
func TestContinue(t *testing.T) {
	s, other := seedSigner(t, 1), seedSigner(t, 2)
	ctx := audit.WithSigner(context.Background(), s)
	var log []audit.Event
	for i := range 4 {
		log = serverAppend(t, ctx, log, hourly(i))
	}
	if _, err := audit.VerifySigned(log, owner, keysOf(s)); err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		if e.Action != audit.Read {
			t.Fatalf("an honest log got a %s event", e.Action)
		}
	}

	// The operator rewrites the two newest events and strips their
	// signatures; the next append must not vouch for them.
	forged := clone(log)
	forged[2].Status, forged[3].Keys = 403, []string{"other"}
	forged[2].Sig, forged[2].SigKey, forged[3].Sig, forged[3].SigKey = "", "", "", ""
	relink(forged, 2)
	forged = serverAppend(t, ctx, forged, hourly(5))
	if got := forged[4].Action; got != audit.Break {
		t.Fatalf("after a forged head the server linked %s, not break", got)
	}
	_, err := audit.VerifySigned(forged, owner, keysOf(s))
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Seq != 5 || !strings.Contains(err.Error(), "events seq 3 to 4") {
		t.Fatalf("VerifySigned of a forged log continued by the server = %v", err)
	}
	// And it stays broken however much is appended after.
	forged = serverAppend(t, ctx, forged, hourly(6))
	if forged[len(forged)-1].Action == audit.Break || len(forged) != 7 {
		t.Fatalf("a second break after a signed head: %s", describe(forged))
	}
	if _, err := audit.VerifySigned(forged, owner, keysOf(s)); err == nil {
		t.Fatal("a broken log verifies once more events follow")
	}

	// A head signed by a key the server does not hold nor trust.
	wrong := clone(log)
	other.Sign(owner, &wrong[3])
	wrong = serverAppend(t, ctx, wrong, hourly(5))
	if wrong[4].Action != audit.Break {
		t.Fatalf("a head signed by another key: %s", describe(wrong))
	}
	if _, err := audit.VerifySigned(wrong, owner, keysOf(s, other)); err == nil || !strings.Contains(err.Error(), "no longer trusts") {
		t.Fatalf("VerifySigned after a break on a head by an untrusted key = %v", err)
	}
	// A key the server trusts (an older master key) continues as its own.
	s.Trust(other.PublicKey())
	if got := serverAppend(t, ctx, clone(log[:3]), hourly(5)); got[3].Action != audit.Read {
		t.Fatalf("a head by a trusted key: %s", describe(got))
	}
	trusted := clone(log)
	other.Sign(owner, &trusted[3])
	if got := serverAppend(t, ctx, trusted, hourly(5)); got[4].Action != audit.Read {
		t.Fatalf("a head by a trusted key: %s", describe(got))
	}

	// A log from before signing is adopted, once, and verifies.
	var old []audit.Event
	for i := range 3 {
		old = serverAppend(t, context.Background(), old, hourly(i))
	}
	old = serverAppend(t, ctx, old, hourly(3))
	old = serverAppend(t, ctx, old, hourly(4))
	if old[3].Action != audit.Adopt || old[4].Action != audit.Read || len(old) != 6 {
		t.Fatalf("adoption: %s", describe(old))
	}
	rep, err := audit.VerifySigned(old, owner, keysOf(s))
	if err != nil || rep.Adopted != 4 {
		t.Fatalf("VerifySigned of an adopted log = %+v, %v", rep, err)
	}
	// Stripping every signature to be adopted again shows.
	stripped := clone(old)
	for i := range stripped {
		stripped[i].Sig, stripped[i].SigKey = "", ""
	}
	stripped = serverAppend(t, ctx, stripped, hourly(6))
	if _, err := audit.VerifySigned(stripped, owner, keysOf(s)); err == nil || !strings.Contains(err.Error(), "second adoption") {
		t.Fatalf("VerifySigned of a log adopted twice = %v", err)
	}
	// An adoption after signed events is not one the server makes.
	late := serverAppend(t, ctx, clone(log), audit.Event{Time: t0, Action: audit.Adopt})
	if _, err := audit.VerifySigned(late, owner, keysOf(s)); err == nil || !strings.Contains(err.Error(), "signed already") {
		t.Fatalf("VerifySigned of an adoption after signed events = %v", err)
	}
	// Without a signer (no master key) nothing is added.
	if got := serverAppend(t, context.Background(), clone(forged), hourly(9)); got[len(got)-1].Action != audit.Read || len(got) != len(forged)+1 {
		t.Fatalf("without a signer: %s", describe(got))
	}
}

func describe(log []audit.Event) string {
	var b strings.Builder
	for _, e := range log {
		fmt.Fprintf(&b, " %d:%s(sig=%t)", e.Seq, e.Action, e.Sig != "")
	}
	return b.String()
}
