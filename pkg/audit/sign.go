package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// SigningPurpose is the label under which the server derives its audit
// signing key from its master key (seal.Keyring.Derive).
const SigningPurpose = "audit-signing/ed25519/v1"

// sigDomain opens the bytes a signature covers.
const sigDomain = "nosana-secrets audit head v1\n"

// SignedBytes are the bytes the signature of e covers: the owner, and the
// head e makes (its seq and hash). The hash covers the whole chain before
// it, so one signature vouches for every event up to e.
func SignedBytes(owner string, seq uint64, hash string) []byte {
	h, _ := decodeHash(hash)
	b := make([]byte, 0, len(sigDomain)+4+len(owner)+8+len(h))
	b = append(b, sigDomain...)
	b = appendStr(b, owner)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, h...)
}

// Signer signs the heads of owners' logs with a key derived from the
// master key; only the server holds it.
type Signer struct {
	priv    ed25519.PrivateKey
	id      string
	trusted Keys // whose heads an append may continue: its own and Trust's
	// good holds, per owner, the last head whose signature s made or
	// verified, so that the next append's check costs a compare, not an
	// ed25519 verification (a third of a signed write's instructions).
	// Only a valid signature is remembered, and trusted keys are never
	// removed, so a hit answers what Verify would.
	good *lru.Cache[string, signedHead]
}

// signedHead is a head with the signature that vouches for it.
type signedHead struct {
	head        Head
	sigKey, sig string
}

// goodHeads bounds the owners whose last signed head a Signer remembers:
// about 400 bytes each (1.6 MiB in all). An owner pushed out costs its
// next append one verification.
const goodHeads = 4096

// NewSigner makes a signer from a 32-byte seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: a signing seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	id := KeyID(pub)
	good, _ := lru.New[string, signedHead](goodHeads)
	return &Signer{priv: priv, id: id, trusted: Keys{id: pub}, good: good}, nil
}

// Trust makes s continue logs whose head k signed as if s had signed it:
// the keys of the older master keys still in the keyring, so that a
// rekey does not break every log.
func (s *Signer) Trust(k PublicKey) { s.trusted.Add(k) }

// Signed reports whether sig, by the key sigKey, is a valid signature of
// head in owner's log by s or a key it trusts.
func (s *Signer) Signed(owner string, head Head, sigKey, sig string) bool {
	pub, ok := s.trusted[sigKey]
	if !ok {
		return false
	}
	sh := signedHead{head, sigKey, sig}
	if last, ok := s.good.Get(owner); ok && last == sh {
		return true
	}
	b, err := hex.DecodeString(sig)
	if err != nil || !ed25519.Verify(pub, SignedBytes(owner, head.Seq, head.Hash), b) {
		return false
	}
	s.good.Add(owner, sh)
	return true
}

// PublicKey is the signer's public half, as GET /v1/audit/key answers it.
func (s *Signer) PublicKey() PublicKey {
	return PublicKey{ID: s.id, Key: hex.EncodeToString(s.priv.Public().(ed25519.PublicKey))}
}

// Sign sets e.SigKey and e.Sig for the head e makes in owner's log. e must
// be linked (Link) already.
func (s *Signer) Sign(owner string, e *Event) {
	e.SigKey = s.id
	e.Sig = hex.EncodeToString(ed25519.Sign(s.priv, SignedBytes(owner, e.Seq, e.Hash)))
	s.good.Add(owner, signedHead{Head{e.Seq, e.Hash}, e.SigKey, e.Sig})
}

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// PublicKey is a signing key's public half: its id and the 32 bytes, hex.
type PublicKey struct {
	ID  string `json:"id"`
	Key string `json:"public_key"`
}

// String is the form a Rekey event's Vouch holds: "id:hex".
func (k PublicKey) String() string { return k.ID + ":" + k.Key }

// ParsePublicKey reads "id:hex" (or a bare hex key) and checks that the
// id is the key's.
func ParsePublicKey(s string) (PublicKey, error) {
	id, key, ok := strings.Cut(s, ":")
	if !ok {
		key, id = s, ""
	}
	b, err := hex.DecodeString(key)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return PublicKey{}, errors.New("audit: a public key is 64 hex digits (32 bytes), optionally after its id and a colon")
	}
	want := KeyID(b)
	if id != "" && id != want {
		return PublicKey{}, fmt.Errorf("audit: key id %s does not name this key (its id is %s)", id, want)
	}
	return PublicKey{ID: want, Key: key}, nil
}

// Keys are the public keys a verifier trusts, by id.
type Keys map[string]ed25519.PublicKey

// Add trusts k.
func (ks Keys) Add(k PublicKey) {
	b, _ := hex.DecodeString(k.Key)
	ks[k.ID] = b
}

type signerKey struct{}

// WithSigner returns ctx carrying s: a backend that links events under
// this ctx signs the newest event of each append with it (SignHead).
func WithSigner(ctx context.Context, s *Signer) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, signerKey{}, s)
}

// SignHead signs e, the newest event of an append to owner's log, with the
// signer ctx carries; without one it leaves e unsigned. Every backend
// calls it on the last event it links in one append, commit or trim.
func SignHead(ctx context.Context, owner string, e *Event) {
	if s, ok := ctx.Value(signerKey{}).(*Signer); ok {
		s.Sign(owner, e)
	}
}

// Continue is what a backend calls, in an append's transaction, before it
// links the append's events (or a trim) after head, the newest event of
// owner's log, whose signature is sigKey and sig as stored. A server signs
// only on top of a head it signed itself, since its signature vouches for
// the whole chain: it answers nil when ctx carries no signer, the log is
// empty, or the signer (or a key it trusts) signed head. Otherwise it
// answers the event to link first, so that the server does not vouch for
// what it did not write: an Adopt event when no event of the log carries
// a signature (signedBefore answers whether one does; it is called only
// then), a Break event when some does (someone rewrote the newer events
// and removed or forged their signatures). The append itself goes on:
// a user's write is never refused for the audit log's sake.
func Continue(ctx context.Context, owner string, head Head, sigKey, sig string, signedBefore func() (bool, error)) (*Event, error) {
	if Vouches(ctx, owner, head, sigKey, sig) {
		return nil, nil
	}
	ever, err := signedBefore()
	if err != nil {
		return nil, err
	}
	e := Event{Time: time.Now(), Action: Break, Keys: []string{}}
	if !ever {
		e.Action = Adopt
	}
	return &e, nil
}

// ContinueLog is Continue on a log held whole, oldest first (the memory
// store's): its newest event is the head, and whether any event of it is
// signed is read from it.
func ContinueLog(ctx context.Context, owner string, log []Event) (*Event, error) {
	var head Head
	var sigKey, sig string
	if n := len(log); n > 0 {
		head, sigKey, sig = Head{Seq: log[n-1].Seq, Hash: log[n-1].Hash}, log[n-1].SigKey, log[n-1].Sig
	}
	return Continue(ctx, owner, head, sigKey, sig, func() (bool, error) {
		return slices.ContainsFunc(log, func(e Event) bool { return e.Sig != "" }), nil
	})
}

// Remembers reports whether head is the last head of owner's log that
// the signer in ctx signed or verified: an append may link after it as
// Vouches would, without reading the head's own signature. The hash fixes
// the head's content and every event before it, so a store that still has
// that head holds what was signed, whatever it did to the copy of the
// signature it keeps.
func Remembers(ctx context.Context, owner string, head Head) bool {
	s, ok := ctx.Value(signerKey{}).(*Signer)
	if !ok || head.Seq == 0 {
		return false
	}
	last, ok := s.good.Get(owner)
	return ok && last.head == head
}

// Vouches reports whether an append under ctx may link after head as it
// is (Continue answers nil): ctx carries no signer, the log is empty, or
// sig is the signer's (or a trusted key's) over head. A backend that
// keeps a copy of the head's signature can ask this before it reads the
// head event's own.
func Vouches(ctx context.Context, owner string, head Head, sigKey, sig string) bool {
	s, ok := ctx.Value(signerKey{}).(*Signer)
	return !ok || head.Seq == 0 || s.Signed(owner, head, sigKey, sig)
}

// Prepend returns events with first before them, when first is not nil.
func Prepend(first *Event, events []Event) []Event {
	if first == nil {
		return events
	}
	return append([]Event{*first}, events...)
}
