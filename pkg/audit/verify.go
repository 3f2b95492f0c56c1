package audit

import (
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
// with one noted before (CheckHead) to detect that.
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

// ErrHeadTrimmed is returned by CheckHead when the noted head is older
// than the log's start: retention removed it, so it cannot be compared.
var ErrHeadTrimmed = errors.New("audit: the noted head is older than the log's start (removed by retention); note the current head")

// CheckHead compares a verified log with a head noted earlier: the event at
// the noted seq must still exist and have the noted hash.
func CheckHead(events []Event, noted Head) error {
	if noted.Seq == 0 {
		return nil
	}
	if len(events) == 0 || noted.Seq > events[len(events)-1].Seq {
		return fmt.Errorf("audit: the log ends before the noted head (seq %d): newer events were removed", noted.Seq)
	}
	if noted.Seq < events[0].Seq {
		return ErrHeadTrimmed
	}
	if e := events[noted.Seq-events[0].Seq]; e.Hash != noted.Hash {
		return fmt.Errorf("audit: event seq %d has hash %s, not the noted %s: the log was rewritten", noted.Seq, e.Hash, noted.Hash)
	}
	return nil
}
