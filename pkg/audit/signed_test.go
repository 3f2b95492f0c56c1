package audit_test

import (
	"bytes"
	"errors"
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
