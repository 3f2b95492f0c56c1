package audit

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
)

// ChainError says where a log stops verifying.
type ChainError struct {
	Index  int    // position in the slice given to Verify
	Seq    uint64 // the event's seq as stored
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit log breaks at event %d (seq %d): %s", e.Index, e.Seq, e.Reason)
}

// Verify checks a whole log, oldest event first, and returns its head.
// It fails with a *ChainError when an event was edited (its hash does not
// match), removed (a gap in seq or a broken link), reordered, or when the
// log does not start at event 1 and no trim event accounts for the start.
// Removing the newest events leaves a shorter valid log: compare the head
// with one noted before (CheckHeadSigned) to detect that.
func Verify(events []Event) (Head, error) {
	if len(events) == 0 {
		return Head{}, nil
	}
	var trimTo uint64 // every event before it was removed by retention
	for i, e := range events {
		fail := func(format string, args ...any) (Head, error) {
			return Head{}, &ChainError{Index: i, Seq: e.Seq, Reason: fmt.Sprintf(format, args...)}
		}
		if e.Seq == 0 {
			return fail("seq 0: events are numbered from 1")
		}
		if !e.Action.Valid() {
			return fail("unknown action %q", e.Action)
		}
		if (e.Action == Trim) != (e.Trimmed != nil) {
			return fail("trim details on a %s event, or a trim event without them", e.Action)
		}
		h, ok := ComputeHash(e)
		if !ok {
			return fail("prev_hash is not 64 lowercase hex digits")
		}
		if h != e.Hash {
			return fail("hash does not match the event: it was altered")
		}
		if i > 0 {
			prev := events[i-1]
			if e.Seq != prev.Seq+1 {
				return fail("follows seq %d: events are missing or out of order", prev.Seq)
			}
			if e.PrevHash != prev.Hash {
				return fail("prev_hash is not the hash of seq %d: the log was rewritten", prev.Seq)
			}
		}
		if t := e.Trimmed; t != nil {
			if t.FirstSeq > e.Seq {
				return fail("trim claims events up to seq %d, after itself", t.FirstSeq)
			}
			if _, ok := decodeHash(t.Anchor); !ok {
				return fail("trim anchor is not 64 lowercase hex digits")
			}
			trimTo = max(trimTo, t.FirstSeq)
		}
	}
	if err := checkStart(events, trimTo); err != nil {
		return Head{}, err
	}
	last := events[len(events)-1]
	return Head{Seq: last.Seq, Hash: last.Hash}, nil
}

// checkStart accepts a log that starts at event 1 on the genesis hash, or
// one whose start a trim event vouches for: trimTo is the newest trim's
// first kept seq, and the event before it must hash to its anchor. Events
// older than trimTo may remain (a trim interrupted half-way).
func checkStart(events []Event, trimTo uint64) error {
	first := events[0]
	if first.Seq == 1 {
		if first.PrevHash != Genesis {
			return &ChainError{Index: 0, Seq: 1, Reason: "event 1 does not link to the genesis hash"}
		}
		return nil
	}
	if trimTo == 0 {
		return &ChainError{Index: 0, Seq: first.Seq,
			Reason: "the log starts here and no trim event records why: older events were removed"}
	}
	if first.Seq > trimTo {
		return &ChainError{Index: 0, Seq: first.Seq,
			Reason: fmt.Sprintf("retention kept events from seq %d, but the log starts later: events were removed", trimTo)}
	}
	var anchor string
	for _, e := range events {
		if e.Trimmed != nil && e.Trimmed.FirstSeq == trimTo {
			anchor = e.Trimmed.Anchor
			break
		}
	}
	kept := events[trimTo-first.Seq]
	if kept.PrevHash != anchor {
		return &ChainError{Index: int(trimTo - first.Seq), Seq: kept.Seq,
			Reason: "the first event kept by retention does not link to the trim's anchor"}
	}
	return nil
}

// Report is what VerifySigned found in a whole log.
type Report struct {
	Head Head
	// Vouched is the seq of the newest event signed by a trusted key:
	// every event up to it is as the server wrote it.
	Vouched uint64
	// SigKey is the id of the key that signed event Vouched.
	SigKey string
	// Start is the trim event that accounts for the log's start (nil when
	// the log starts at event 1).
	Start *Event
	// Adopted is the seq of the Adopt event, when the log was written
	// before the server signed: the server vouches that the events before
	// it were in the store when it adopted them, not that it wrote them.
	Adopted uint64
}

// ErrUnsigned is wrapped when a log holds events that no trusted signature
// vouches for.
var ErrUnsigned = errors.New("audit: events are not signed by the server")

// VerifySigned checks a whole log of owner, oldest event first, as Verify
// does, and then that the server vouches for all of it: the newest event
// must carry a valid signature by one of keys (or by a key that a vouched
// Rekey event names), which covers every event before it through the
// chain; every other signature by a known key must be valid; a trim of
// retention must have removed only events older than its retention; and
// the trim that accounts for the log's start must carry its own valid
// signature.
// Someone who can edit the store but holds no master key can therefore
// not drop, reorder, rewrite or truncate events at the start or in the
// middle. Removing the newest events, back to an earlier signed head, is
// a rollback that only a noted head shows (CheckHeadSigned).
func VerifySigned(events []Event, owner string, keys Keys) (Report, error) {
	head, err := Verify(events)
	if err != nil || len(events) == 0 {
		return Report{Head: head}, err
	}
	trusted := Keys{}
	for id, k := range keys {
		trusted[id] = k
	}
	valid := func(e Event) (known, ok bool) {
		pub, known := trusted[e.SigKey]
		if !known {
			return false, false
		}
		sig, err := hex.DecodeString(e.Sig)
		return true, err == nil && ed25519.Verify(pub, SignedBytes(owner, e.Seq, e.Hash), sig)
	}
	// The newest event signed by a trusted key vouches for all before it.
	last := -1
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Sig == "" {
			continue
		}
		if known, ok := valid(events[i]); known && !ok {
			return Report{}, &ChainError{Index: i, Seq: events[i].Seq, Reason: "its signature does not match: the event or its signature was altered"}
		} else if ok {
			last = i
			break
		}
	}
	if last < 0 {
		return Report{}, fmt.Errorf("%w: no event carries a signature by a key this server publishes (%d events; seq %d to %d)",
			ErrUnsigned, len(events), events[0].Seq, head.Seq)
	}
	if last < len(events)-1 {
		return Report{}, fmt.Errorf("%w: the %d newest events (seq %d to %d) carry no valid signature: they were added by someone without the master key",
			ErrUnsigned, len(events)-1-last, events[last+1].Seq, head.Seq)
	}
	// Keys that vouched Rekey events retire stay trusted for older events.
	for _, e := range events[:last+1] {
		if e.Action != Rekey {
			continue
		}
		for _, v := range e.Vouch {
			if k, err := ParsePublicKey(v); err == nil {
				trusted.Add(k)
			}
		}
	}
	rep := Report{Head: head, Vouched: events[last].Seq, SigKey: events[last].SigKey}
	for i, e := range events[:last+1] {
		if e.Sig != "" && i < last {
			if known, ok := valid(e); known && !ok {
				return Report{}, &ChainError{Index: i, Seq: e.Seq, Reason: "its signature does not match: the event or its signature was altered"}
			}
		}
		t := e.Trimmed
		if t == nil {
			continue
		}
		if t.Reason == TrimRetention && (t.Retention < 0 || t.Before.After(e.Time.Add(-t.Retention))) {
			return Report{}, &ChainError{Index: i, Seq: e.Seq,
				Reason: fmt.Sprintf("the trim removed events newer than its retention (%s before %s)", t.Retention, e.Time.Format("2006-01-02T15:04:05Z07:00"))}
		}
		if events[0].Seq > 1 && (rep.Start == nil || t.FirstSeq > rep.Start.Trimmed.FirstSeq) {
			ev := e
			rep.Start = &ev
		}
	}
	// The server signs every trim it appends (the newest event of its own
	// append). A later signature vouches only that the server linked onto
	// what the store held, so the trim that explains the log's start must
	// carry its own: otherwise whoever deleted the start of the log could
	// append a trim record and wait for the next signed event.
	if s := rep.Start; s != nil {
		if _, ok := valid(*s); !ok {
			return Report{}, &ChainError{Index: int(s.Seq - events[0].Seq), Seq: s.Seq,
				Reason: fmt.Sprintf("the trim that accounts for the log's start (events before seq %d removed) carries no valid signature by the server: "+
					"it was added by someone without the master key (or by a release that did not sign, until the next trim)", s.Trimmed.FirstSeq)}
		}
	}
	if err := checkContinued(events[:last+1], valid, &rep); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// checkContinued fails on a Break event (the server found a head it had
// not signed: the events since its last signature are not its), and
// accepts one Adopt event (rep.Adopted) only when no event before it
// carries a signature, as the server adopts only a log never signed.
func checkContinued(events []Event, valid func(Event) (bool, bool), rep *Report) error {
	for i, e := range events {
		switch e.Action {
		case Break:
			from := events[0].Seq
			for j := i - 1; j >= 0; j-- {
				if _, ok := valid(events[j]); ok {
					from = events[j].Seq + 1
					break
				}
			}
			what := fmt.Sprintf("events seq %d to %d were written or altered by someone without the master key", from, e.Seq-1)
			if from >= e.Seq {
				what = "its signature was made by a key the server no longer trusts"
			}
			return &ChainError{Index: i, Seq: e.Seq, Reason: fmt.Sprintf(
				"the server found the log's head (seq %d) not signed by it and recorded a break: %s", e.Seq-1, what)}
		case Adopt:
			if rep.Adopted != 0 {
				return &ChainError{Index: i, Seq: e.Seq, Reason: fmt.Sprintf(
					"a second adoption (the first at seq %d): the log's signatures were removed and its events may be rewritten", rep.Adopted)}
			}
			for j, o := range events[:i] {
				if o.Sig != "" {
					return &ChainError{Index: i, Seq: e.Seq, Reason: fmt.Sprintf(
						"an adoption of a log that was signed already (seq %d carries a signature)", events[j].Seq)}
				}
			}
			rep.Adopted = e.Seq
		}
	}
	return nil
}

// HeadTrimmedError says that a noted head is older than the log's start
// and which vouched trim removed it.
type HeadTrimmedError struct {
	Noted Head
	Trim  Event
}

func (e *HeadTrimmedError) Error() string {
	t := e.Trim.Trimmed
	switch t.Reason {
	case TrimRetention:
		return fmt.Sprintf("the noted head (seq %d) was removed by retention at %s: every event older than %s (%s) went",
			e.Noted.Seq, e.Trim.Time.Format("2006-01-02T15:04:05Z07:00"), t.Before.Format("2006-01-02T15:04:05Z07:00"), t.Retention)
	case TrimQuota:
		return fmt.Sprintf("the noted head (seq %d) was removed at %s because the owner's audit log reached its quota",
			e.Noted.Seq, e.Trim.Time.Format("2006-01-02T15:04:05Z07:00"))
	}
	return fmt.Sprintf("the noted head (seq %d) was removed by a trim at %s", e.Noted.Seq, e.Trim.Time.Format("2006-01-02T15:04:05Z07:00"))
}

// CheckHeadSigned compares a log that VerifySigned accepted (rep) with a
// head noted earlier. The event at the noted seq must still exist with the
// noted hash; if it is older than the log's start, a trim the server
// signed must account for it, and the answer is a *HeadTrimmedError
// (which callers report as a notice, not a failure). Any other answer is
// tampering.
func CheckHeadSigned(events []Event, rep Report, noted Head) error {
	if noted.Seq == 0 {
		return nil
	}
	if len(events) == 0 || noted.Seq > events[len(events)-1].Seq {
		return fmt.Errorf("audit: the log ends before the noted head (seq %d): newer events were removed", noted.Seq)
	}
	if noted.Seq >= events[0].Seq {
		if e := events[noted.Seq-events[0].Seq]; e.Hash != noted.Hash {
			return fmt.Errorf("audit: event seq %d has hash %s, not the noted %s: the log was rewritten", noted.Seq, e.Hash, noted.Hash)
		}
		return nil
	}
	if rep.Start == nil || rep.Start.Trimmed.FirstSeq <= noted.Seq {
		return fmt.Errorf("audit: the noted head (seq %d) is gone and no trim signed by the server removed it: the log was truncated", noted.Seq)
	}
	return &HeadTrimmedError{Noted: noted, Trim: *rep.Start}
}
