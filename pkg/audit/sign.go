package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
	priv ed25519.PrivateKey
	id   string
}

// NewSigner makes a signer from a 32-byte seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: a signing seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}, nil
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
