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
// (CheckHeadSigned). Retention removes the oldest events and appends a trim event
// that names the first event kept and the hash it links to, so a trimmed
// log still verifies from its new start while a gap anywhere else does not.
//
// The chain alone is unkeyed: whoever can edit the store can recompute it.
// So the server signs the newest event of every append with an ed25519 key
// derived from its master key (Signer); a verifier holding the public key
// accepts only events that a signed event at or after them vouches for,
// and a trim only when it is so vouched (see VerifySigned).
//
// An event never holds a secret value, only key names, and at most
// MaxKeys of them: an event about more names records how many there were
// and a digest of them all (Bound).
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
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
	// Rekey is appended to every log by rekey: signed with the new key, it
	// vouches for the log before it and names the retired keys (Vouch).
	Rekey Action = "rekey"
	// Fetch is a node's fetch of a confidential job definition, Result its
	// post of a job's result (issue 22); their refusals are Denied.
	Fetch  Action = "fetch"
	Result Action = "result"
	// Access tokens and OIDC trusts (issue 23): Keys holds "token/<id>" or
	// "trust/<id>"; a refused exchange has a Reason.
	TokenCreate  Action = "token_create"
	TokenRevoke  Action = "token_revoke"
	TrustCreate  Action = "trust_create"
	TrustDelete  Action = "trust_delete"
	OIDCExchange Action = "oidc_exchange"
	// Adopt is linked by a signing server before its first append to a
	// log that no event of carries a signature (one written before the
	// server signed): the events before it were in the store then, but the
	// server does not vouch that it wrote them.
	Adopt Action = "adopt"
	// Break is linked by a signing server before an append to a log whose
	// head it did not sign (nor any key it trusts) although the log was
	// signed before: the events since the last one it signed were written
	// by someone else, and the log never verifies again (Continue).
	Break Action = "break"
)

// actions are the actions above, in that order.
var actions = []Action{Login, Read, List, Write, Delete, Restore, Denied, Trim, Rekey, Fetch, Result,
	TokenCreate, TokenRevoke, TrustCreate, TrustDelete, OIDCExchange, Adopt, Break}

// Actions returns every action an event may record. The console's check
// of a log (web/src/chain.js) accepts exactly these: TestVectors writes
// them to the vectors its test reads.
func Actions() []Action { return slices.Clone(actions) }

// Valid reports whether a is one of the actions above.
func (a Action) Valid() bool { return slices.Contains(actions, a) }

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
	// Last is the time of the newest of the Count requests, when they
	// spread over more than one millisecond.
	Last time.Time `json:"last,omitzero"`
	// KeyCount is, when Keys holds only the first MaxKeys names, how many
	// names the request had; KeysDigest is then the hex SHA-256 of them all
	// (DigestKeys).
	KeyCount   uint32 `json:"key_count,omitempty"`
	KeysDigest string `json:"keys_digest,omitempty"`
	// Trimmed is set on a Trim event only.
	Trimmed *Trimmed `json:"trimmed,omitempty"`
	// Vouch lists signing keys ("id:hex public key") that the signer of
	// this event vouches for: a Rekey event names the keys it retires.
	Vouch []string `json:"vouch,omitempty"`
	// Reason says why a request was refused, where its status does not
	// (an OIDC exchange: wrong_audience, no_trust…).
	Reason string `json:"reason,omitempty"`

	PrevHash string `json:"prev_hash"` // hex
	Hash     string `json:"hash"`      // hex
	// SigKey and Sig, set on the newest event of each append, are the id
	// of the server's signing key and its ed25519 signature over the head
	// this event makes (SignedBytes), hex. Neither is covered by Hash.
	SigKey string `json:"sig_key,omitempty"`
	Sig    string `json:"sig,omitempty"`
}

// Trimmed is what a Trim event records: every event before FirstSeq was
// removed, and the event FirstSeq links to the hash Anchor. Reason is
// TrimRetention (every removed event was older than Before, which is at
// least Retention before the trim's time) or TrimQuota (the owner's audit
// log reached its quota; the oldest events went first).
type Trimmed struct {
	FirstSeq  uint64        `json:"first_seq"`
	Anchor    string        `json:"anchor"` // hex
	Reason    string        `json:"reason,omitempty"`
	Before    time.Time     `json:"before,omitzero"`
	Retention time.Duration `json:"retention,omitempty"`
}

// Reasons of a trim.
const (
	TrimRetention = "retention"
	TrimQuota     = "quota"
)

// MaxKeys is the most key names one event keeps.
const MaxKeys = 16

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
//	then, only when one of the later fields is set, the extension:
//	u8 2 · i64 last (Unix ms, 0 unset) · u32 key_count · str keys_digest
//	str trimmed.reason · i64 trimmed.before (Unix ms, 0 unset)
//	i64 trimmed.retention (ms) · u32 len(vouch), then str for each
//	then, only when reason is set: u8 3 · str reason
//
// Integers are big-endian; str is a u32 byte length followed by the bytes
// (UTF-8, as stored). Every field has a fixed place and a length, so two
// different events never encode alike; an event without the later fields
// encodes as it did before they existed, so old hashes still verify.
func Canonical(e Event) []byte {
	n := len(domain) + 8 + 8 + 4 + len(e.Action) + 4 + 4*3 + len(e.Actor) + len(e.Job) + len(e.IP) + 4 + 4 + 1
	for _, k := range e.Keys {
		n += 4 + len(k)
	}
	if e.Trimmed != nil {
		n += 8 + 4 + len(e.Trimmed.Anchor)
	}
	ext := hasExtension(e)
	if ext {
		n += 1 + 8 + 4 + 4 + len(e.KeysDigest) + 4 + 8 + 8 + 4
		if e.Trimmed != nil {
			n += len(e.Trimmed.Reason)
		}
		for _, v := range e.Vouch {
			n += 4 + len(v)
		}
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
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, e.Trimmed.FirstSeq)
		b = appendStr(b, e.Trimmed.Anchor)
	}
	if !ext {
		return b
	}
	b = append(b, 2)
	b = binary.BigEndian.AppendUint64(b, uint64(unixMilli(e.Last)))
	b = binary.BigEndian.AppendUint32(b, e.KeyCount)
	b = appendStr(b, e.KeysDigest)
	var t Trimmed
	if e.Trimmed != nil {
		t = *e.Trimmed
	}
	b = appendStr(b, t.Reason)
	b = binary.BigEndian.AppendUint64(b, uint64(unixMilli(t.Before)))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Retention.Milliseconds()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Vouch)))
	for _, v := range e.Vouch {
		b = appendStr(b, v)
	}
	if e.Reason != "" {
		b = append(b, 3)
		b = appendStr(b, e.Reason)
	}
	return b
}

// hasExtension reports whether e sets a field that Canonical encodes in
// its extension.
func hasExtension(e Event) bool {
	if !e.Last.IsZero() || e.KeyCount != 0 || e.KeysDigest != "" || len(e.Vouch) > 0 || e.Reason != "" {
		return true
	}
	t := e.Trimmed
	return t != nil && (t.Reason != "" || !t.Before.IsZero() || t.Retention != 0)
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
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
// Time to the millisecond in UTC (what every backend stores exactly),
// bounds its keys (Bound) and makes a nil Keys empty and a Count of one 0.
// It returns the event and the new head. Signing is the caller's (Sign).
func Link(head Head, e Event) (Event, Head) {
	if e.Count == 1 {
		e.Count = 0
	}
	e = Bound(e)
	if !e.Last.IsZero() {
		e.Last = e.Last.Truncate(time.Millisecond).UTC()
		if !e.Last.After(e.Time.Truncate(time.Millisecond)) {
			e.Last = time.Time{}
		}
	}
	if t := e.Trimmed; t != nil && !t.Before.IsZero() {
		c := *t
		c.Before = c.Before.Truncate(time.Millisecond).UTC()
		c.Retention = c.Retention.Truncate(time.Millisecond)
		e.Trimmed = &c
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

// Bound returns e with at most MaxKeys names: past that it keeps the first
// MaxKeys, and records how many there were and their digest, so an event
// costs the same for two names or two thousand. An event already bounded
// is returned as it is.
func Bound(e Event) Event {
	if len(e.Keys) <= MaxKeys {
		return e
	}
	e.KeyCount = uint32(len(e.Keys))
	e.KeysDigest = DigestKeys(e.Keys)
	e.Keys = append([]string(nil), e.Keys[:MaxKeys]...)
	return e
}

// DigestKeys is the hex SHA-256 of names in order, each as a str (u32
// length, bytes): what KeysDigest holds, so an owner who knows which names
// a request sent can check it.
func DigestKeys(names []string) string {
	h := sha256.New()
	var n [4]byte
	for _, k := range names {
		binary.BigEndian.PutUint32(n[:], uint32(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TrimEvent is the event that retention appends after removing every event
// before first; anchor is the prev_hash of the event first (so the kept
// part of the log still links to something the chain vouches for). Link it
// like any other event.
func TrimEvent(now time.Time, first uint64, anchor string) Event {
	return Event{Time: now, Action: Trim, Trimmed: &Trimmed{FirstSeq: first, Anchor: anchor}}
}

// RetentionTrim is the trim event of retention: every removed event was
// older than before, which is retention before now.
func RetentionTrim(now time.Time, first uint64, anchor string, before time.Time, retention time.Duration) Event {
	e := TrimEvent(now, first, anchor)
	e.Trimmed.Reason, e.Trimmed.Before, e.Trimmed.Retention = TrimRetention, before, retention
	return e
}

// QuotaTrim is the trim event of an owner whose audit log reached its
// quota: the oldest events, up to first, were removed to make room.
func QuotaTrim(now time.Time, first uint64, anchor string) Event {
	e := TrimEvent(now, first, anchor)
	e.Trimmed.Reason = TrimQuota
	return e
}

// StoredSize is what an event counts against its owner's audit quota: the
// length of its JSON, as every backend stores it.
func StoredSize(e Event) int64 {
	b, _ := json.Marshal(e)
	return int64(len(b))
}
