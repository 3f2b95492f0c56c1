package audit_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
)

const owner = "GwqrC1VYfSnWYDUmvqb2jfwkJ4qhBuz8Mj2VMXhqScwf"

// appendSigned links events after log as one append and signs its newest,
// as a backend does under the seal layer's ctx.
func appendSigned(log []audit.Event, s *audit.Signer, events ...audit.Event) []audit.Event {
	var head audit.Head
	if n := len(log); n > 0 {
		head = audit.Head{Seq: log[n-1].Seq, Hash: log[n-1].Hash}
	}
	for _, e := range events {
		e, head = audit.Link(head, e)
		log = append(log, e)
	}
	if s != nil {
		s.Sign(owner, &log[len(log)-1])
	}
	return log
}

func read(key string, at time.Time) audit.Event {
	return audit.Event{Time: at, Action: audit.Read, Keys: []string{key}, Actor: node, IP: "127.0.0.1", Status: 200}
}

// relink recomputes every hash from i on, as someone without the key can.
func relink(log []audit.Event, i int) {
	for ; i < len(log); i++ {
		if i > 0 {
			log[i].PrevHash = log[i-1].Hash
		}
		log[i].Hash, _ = audit.ComputeHash(log[i])
	}
}

func clone(log []audit.Event) []audit.Event { return append([]audit.Event(nil), log...) }

func TestBoundKeys(t *testing.T) {
	names := make([]string, 1900)
	for i := range names {
		names[i] = fmt.Sprintf("%0512d", i)
	}
	e, _ := audit.Link(audit.Head{}, audit.Event{Time: t0, Action: audit.Delete, Keys: names})
	// The digest, computed here from its definition: SHA-256 over each name
	// as a big-endian u32 length and its bytes.
	h := sha256.New()
	for _, n := range names {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(n))))
		h.Write([]byte(n))
	}
	if len(e.Keys) != audit.MaxKeys || e.Keys[15] != names[15] || e.KeyCount != 1900 || e.KeysDigest != hex.EncodeToString(h.Sum(nil)) {
		t.Errorf("bounded: %d keys, count %d, digest %s", len(e.Keys), e.KeyCount, e.KeysDigest)
	}
	if n := audit.StoredSize(e); n > 9000 {
		t.Errorf("a bounded event takes %d bytes", n)
	}
	few, _ := audit.Link(audit.Head{}, audit.Event{Time: t0, Action: audit.Delete, Keys: names[:16]})
	if few.KeyCount != 0 || few.KeysDigest != "" || len(few.Keys) != 16 {
		t.Errorf("16 names are kept as they are: %+v", few)
	}
}

// Every field of the extension is covered by the hash, and an event
// without them hashes as before they existed (TestKnownAnswers).
func TestCanonicalExtensionCovered(t *testing.T) {
	base := audit.Event{Seq: 2, Time: t0, Action: audit.Trim, Keys: []string{}, PrevHash: audit.Genesis,
		Trimmed: &audit.Trimmed{FirstSeq: 1, Anchor: audit.Genesis}}
	edits := map[string]func(e *audit.Event){
		"last":        func(e *audit.Event) { e.Last = t0.Add(time.Second) },
		"key_count":   func(e *audit.Event) { e.KeyCount = 17 },
		"keys_digest": func(e *audit.Event) { e.KeysDigest = strings.Repeat("a", 64) },
		"reason":      func(e *audit.Event) { e.Trimmed.Reason = audit.TrimQuota },
		"before":      func(e *audit.Event) { e.Trimmed.Before = t0 },
		"retention":   func(e *audit.Event) { e.Trimmed.Retention = time.Hour },
		"vouch":       func(e *audit.Event) { e.Vouch = []string{"x"} },
	}
	seen := map[string]string{}
	h0, _ := audit.ComputeHash(base)
	seen[h0] = "none"
	for name, edit := range edits {
		e := base
		tr := *base.Trimmed
		e.Trimmed = &tr
		edit(&e)
		h, _ := audit.ComputeHash(e)
		if other, dup := seen[h]; dup {
			t.Errorf("%s hashes as %s", name, other)
		}
		seen[h] = name
	}
}

func TestVerifySigned(t *testing.T) {
	s, keys := audittest.Signer(t, "server")
	var log []audit.Event
	for i := range 5 {
		log = appendSigned(log, s, read("a", t0.Add(time.Duration(i)*time.Second)), read("b", t0.Add(time.Duration(i)*time.Second)))
	}
	rep, err := audit.VerifySigned(log, owner, keys)
	if err != nil || rep.Vouched != 10 || rep.Head.Seq != 10 {
		t.Fatalf("a signed log: %+v, %v", rep, err)
	}

	attacks := map[string]func() []audit.Event{
		"an unsigned append": func() []audit.Event {
			return appendSigned(clone(log), nil, read("forged", t0.Add(time.Minute)))
		},
		"a rewritten event, every later hash recomputed": func() []audit.Event {
			l := clone(log)
			l[3].Actor = "someone else"
			relink(l, 3)
			return l
		},
		"a middle event dropped and relinked": func() []audit.Event {
			l := append(clone(log[:4]), clone(log[5:])...)
			for i := 4; i < len(l); i++ {
				l[i].Seq--
			}
			relink(l, 4)
			return l
		},
		"two events swapped and relinked": func() []audit.Event {
			l := clone(log)
			l[2], l[3] = l[3], l[2]
			l[2].Seq, l[3].Seq = 3, 4
			relink(l, 2)
			return l
		},
		"the start removed and a forged trim appended": func() []audit.Event {
			l := clone(log[4:])
			return appendSigned(l, nil, audit.TrimEvent(t0.Add(time.Hour), 5, l[0].PrevHash))
		},
		"a log copied from another owner": func() []audit.Event {
			other, _ := audittest.Signer(t, "server")
			l := appendSigned(nil, other, read("a", t0))
			l[0].Sig = strings.Repeat("0", 128)
			return l
		},
		"a signature of another key": func() []audit.Event {
			forger, _ := audittest.Signer(t, "forger")
			l := clone(log)
			forger.Sign(owner, &l[len(l)-1])
			return l
		},
	}
	for name, attack := range attacks {
		if _, err := audit.VerifySigned(attack(), owner, keys); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// The same log read as another owner's: the signatures name the owner.
	if _, err := audit.VerifySigned(log, node, keys); err == nil {
		t.Error("another owner's log verified")
	}
}

func TestVerifySignedTrims(t *testing.T) {
	s, keys := audittest.Signer(t, "server")
	day := 24 * time.Hour
	var log []audit.Event
	for i := range 6 {
		log = appendSigned(log, s, read("a", t0.Add(time.Duration(i)*day)))
	}
	noted := audit.Head{Seq: log[1].Seq, Hash: log[1].Hash}
	// Retention of 2 days at day 6: events before day 4 go.
	now := t0.Add(6 * day)
	kept := clone(log[4:])
	trimmed := appendSigned(kept, s, audit.RetentionTrim(now, 5, kept[0].PrevHash, now.Add(-2*day), 2*day))
	rep, err := audit.VerifySigned(trimmed, owner, keys)
	if err != nil {
		t.Fatal(err)
	}
	var gone *audit.HeadTrimmedError
	if err := audit.CheckHeadSigned(trimmed, rep, noted); !errors.As(err, &gone) || gone.Trim.Trimmed.Reason != audit.TrimRetention {
		t.Errorf("a noted head removed by a signed retention trim: %v", err)
	}
	// A trim the server signed but that claims younger events than its
	// retention allows does not verify.
	bad := appendSigned(clone(log[4:]), s, audit.RetentionTrim(now, 5, log[4].PrevHash, now.Add(-time.Hour), 2*day))
	if _, err := audit.VerifySigned(bad, owner, keys); err == nil {
		t.Error("a trim of events younger than its retention verified")
	}
	// Finding 7: a noted head equal to the first kept event, with another
	// hash, is a rewrite, not a trim.
	wrong := audit.Head{Seq: 5, Hash: strings.Repeat("ab", 32)}
	if err := audit.CheckHeadSigned(trimmed, rep, wrong); err == nil || errors.As(err, &gone) {
		t.Errorf("the first kept event with another hash: %v", err)
	}
	if err := audit.CheckHeadSigned(trimmed, rep, audit.Head{Seq: 5, Hash: log[4].Hash}); err != nil {
		t.Errorf("the first kept event as noted: %v", err)
	}
	if err := audit.CheckHeadSigned(trimmed, rep, audit.Head{Seq: 99, Hash: log[4].Hash}); err == nil {
		t.Error("a noted head past the end")
	}
}

func TestVerifySignedAcrossRekey(t *testing.T) {
	old, _ := audittest.Signer(t, "old master key")
	next, nextKeys := audittest.Signer(t, "new master key")
	log := appendSigned(nil, old, read("a", t0), read("b", t0))
	log = appendSigned(log, old, read("c", t0))
	rekey := audit.Event{Time: t0.Add(time.Hour), Action: audit.Rekey, Vouch: []string{old.PublicKey().String()}}
	log = appendSigned(log, next, rekey)
	if _, err := audit.VerifySigned(log, owner, nextKeys); err != nil {
		t.Fatalf("after rekey, with the new key only: %v", err)
	}
	// The retired key is vouched for, so its signatures are checked too.
	l := clone(log)
	l[1].Sig = strings.Repeat("00", 64)
	l[1].SigKey = old.PublicKey().ID
	if _, err := audit.VerifySigned(l, owner, nextKeys); err == nil {
		t.Error("a broken signature by the retired key verified")
	}
	if _, err := audit.ParsePublicKey(old.PublicKey().String()); err != nil {
		t.Error(err)
	}
	if _, err := audit.ParsePublicKey("0011223344556677:" + old.PublicKey().Key); err == nil {
		t.Error("a key under another key's id parsed")
	}
}
