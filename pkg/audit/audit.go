// Package audit defines the events of an owner's audit trail and the hash
// chain that makes a deleted, edited or reordered event detectable.
//
// Each owner has one log. Its events are numbered 1, 2, 3… (seq) and each
// carries the hash of the one before it:
//
//	hash = SHA-256(prev_hash ‖ Canonical(event))
//
// where prev_hash is the 32 raw bytes of the previous event's hash (32 zero
// bytes for event 1) and Canonical is the length-prefixed encoding below.
// Anyone holding the events can recompute the chain (Verify); an owner who
// notes the head hash can later tell whether the log was rewritten
// (CheckHead). Retention removes the oldest events and appends a trim event
// that names the first event kept and the hash it links to, so a trimmed
// log still verifies from its new start while a gap anywhere else does not.
//
// An event never holds a secret value, only key names.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Action is what an event records.
type Action string

// The actions of an event. Trim is written by retention, not by a request.
const (
	Login   Action = "login"
	Read    Action = "read"
	List    Action = "list"
	Write   Action = "write"
	Delete  Action = "delete"
	Restore Action = "restore"
	Denied  Action = "denied"
	Trim    Action = "trim"
)

// Valid reports whether a is one of the actions above.
func (a Action) Valid() bool {
	switch a {
	case Login, Read, List, Write, Delete, Restore, Denied, Trim:
		return true
	}
	return false
}

// Event is one entry of an owner's log, as stored and as answered by
// GET /v1/audit.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"` // kept to the millisecond, UTC
	Action Action    `json:"action"`
	Keys   []string  `json:"keys"`  // names touched, in request order; never values
	Actor  string    `json:"actor"` // address of the token's holder
	Job    string    `json:"job,omitempty"`
	IP     string    `json:"ip"`
	Status int       `json:"status"` // HTTP status answered
	// Count is how many identical requests (same action, keys, actor, job,
	// IP and status) this event stands for, when a server stored a burst
	// of them as one; 0 means one.
	Count uint32 `json:"count,omitempty"`
	// Trimmed is set on a Trim event only.
	Trimmed *Trimmed `json:"trimmed,omitempty"`

	PrevHash string `json:"prev_hash"` // hex
	Hash     string `json:"hash"`      // hex
}

// Trimmed is what a Trim event records: every event before FirstSeq was
// removed, and the event FirstSeq links to the hash Anchor.
type Trimmed struct {
	FirstSeq uint64 `json:"first_seq"`
	Anchor   string `json:"anchor"` // hex
}

// Head is the newest event of a log: what an owner notes to detect a
// rewrite later. The zero Head is an empty log.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Genesis is the prev_hash of event 1: 32 zero bytes, in hex.
var Genesis = hex.EncodeToString(make([]byte, sha256.Size))

// domain opens every canonical encoding, so a hash of this format can never
// be mistaken for a hash of another (or a later version of this one).
const domain = "nosana-secrets audit v1\n"

// Canonical is the byte string an event's hash covers, prev_hash and hash
// excluded. It is stable across Go versions and simple to reimplement:
//
//	"nosana-secrets audit v1\n"
//	u64 seq
//	i64 time, Unix milliseconds
//	str action
//	u32 len(keys), then str for each key
//	str actor · str job · str ip
//	u32 status · u32 count
//	u8 0, or u8 1 · u64 trimmed.first_seq · str trimmed.anchor
//
// Integers are big-endian; str is a u32 byte length followed by the bytes
// (UTF-8, as stored). Every field has a fixed place and a length, so two
// different events never encode alike.
func Canonical(e Event) []byte {
	n := len(domain) + 8 + 8 + 4 + len(e.Action) + 4 + 4*3 + len(e.Actor) + len(e.Job) + len(e.IP) + 4 + 4 + 1
	for _, k := range e.Keys {
		n += 4 + len(k)
	}
	if e.Trimmed != nil {
		n += 8 + 4 + len(e.Trimmed.Anchor)
	}
	b := make([]byte, 0, n)
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMilli()))
	b = appendStr(b, string(e.Action))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Keys)))
	for _, k := range e.Keys {
		b = appendStr(b, k)
	}
	b = appendStr(b, e.Actor)
	b = appendStr(b, e.Job)
	b = appendStr(b, e.IP)
	b = binary.BigEndian.AppendUint32(b, uint32(e.Status))
	b = binary.BigEndian.AppendUint32(b, e.Count)
	if e.Trimmed == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, e.Trimmed.FirstSeq)
	return appendStr(b, e.Trimmed.Anchor)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ComputeHash returns the hex hash of e under e.PrevHash, or false when
// PrevHash is not 64 hex digits.
func ComputeHash(e Event) (string, bool) {
	prev, ok := decodeHash(e.PrevHash)
	if !ok {
		return "", false
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(Canonical(e))
	return hex.EncodeToString(h.Sum(nil)), true
}

// decodeHash accepts exactly 64 lowercase hex digits, the form Link writes,
// so one hash has one spelling.
func decodeHash(s string) ([]byte, bool) {
	if len(s) != 2*sha256.Size {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// Link makes e the event after head: it sets Seq, PrevHash and Hash, keeps
// Time to the millisecond in UTC (what every backend stores exactly) and
// makes a nil Keys empty and a Count of one 0. It returns the event and
// the new head.
func Link(head Head, e Event) (Event, Head) {
	if e.Count == 1 {
		e.Count = 0
	}
	e.Seq = head.Seq + 1
	e.PrevHash = head.Hash
	if head.Seq == 0 {
		e.PrevHash = Genesis
	}
	e.Time = e.Time.Truncate(time.Millisecond).UTC()
	if e.Keys == nil {
		e.Keys = []string{}
	}
	e.Hash, _ = ComputeHash(e)
	return e, Head{Seq: e.Seq, Hash: e.Hash}
}

// TrimEvent is the event that retention appends after removing every event
// before first; anchor is the prev_hash of the event first (so the kept
// part of the log still links to something the chain vouches for). Link it
// like any other event.
func TrimEvent(now time.Time, first uint64, anchor string) Event {
	return Event{Time: now, Action: Trim, Trimmed: &Trimmed{FirstSeq: first, Anchor: anchor}}
}
