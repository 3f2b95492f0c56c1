// Package seal encrypts secret values at rest with AES-256-GCM.
//
// A blob is: format byte 0x01 ‖ key id (4 bytes) ‖ nonce (12) ‖ ciphertext
// and tag. The additional data binds it to its owner and name, so a blob
// copied to another owner or key does not open. A Keyring holds every key
// that may have sealed a stored blob; it seals with the first, the newest.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the length of a master key.
const KeySize = 32

const (
	formatV1  = 0x01
	idSize    = 4
	nonceSize = 12
	header    = 1 + idSize + nonceSize
	adLabel   = "nosana-secrets/seal/v1"
)

// ErrOpen is returned for any blob that does not open: wrong key, wrong
// owner or name, truncated or altered. It says nothing about the content.
var ErrOpen = errors.New("seal: value does not open with this keyring (wrong key, moved or altered)")

type key struct {
	id     [idSize]byte
	aead   cipher.AEAD
	master []byte // for Derive only; never logged, never stored
}

// Keyring seals with its first key and opens with any of them.
type Keyring struct {
	keys []key
}

// New builds a keyring from master keys, newest first.
func New(masters ...[]byte) (*Keyring, error) {
	if len(masters) == 0 {
		return nil, errors.New("seal: no master key")
	}
	kr := &Keyring{}
	seen := map[[idSize]byte]bool{}
	for i, m := range masters {
		if len(m) != KeySize {
			return nil, fmt.Errorf("seal: master key %d is %d bytes, want %d", i+1, len(m), KeySize)
		}
		// The AES key is derived, so the master key itself never meets the
		// cipher and its id reveals nothing about it.
		dk, err := hkdf.Key(sha256.New, m, nil, adLabel+"/aes-256-gcm", KeySize)
		if err != nil {
			return nil, err
		}
		idb, err := hkdf.Key(sha256.New, m, nil, adLabel+"/key-id", idSize)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		var k key
		copy(k.id[:], idb)
		k.aead = aead
		k.master = slices.Clone(m)
		if seen[k.id] {
			return nil, fmt.Errorf("seal: master key %d repeats an earlier key", i+1)
		}
		seen[k.id] = true
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// ActiveID is the hex id of the key that seals.
func (kr *Keyring) ActiveID() string { return hex.EncodeToString(kr.keys[0].id[:]) }

// IDs are the hex ids of all keys, newest first.
func (kr *Keyring) IDs() []string {
	ids := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		ids[i] = hex.EncodeToString(k.id[:])
	}
	return ids
}

// Derive returns a key of size bytes for purpose (a label such as
// "backup-mac/v1"), derived by HKDF from the master key with the hex id
// ("" for the active key), and that key's id. Keys of different purposes
// are independent, and none reveals the master key.
func (kr *Keyring) Derive(id, purpose string, size int) ([]byte, string, error) {
	k := &kr.keys[0]
	if id != "" {
		k = nil
		for i := range kr.keys {
			if hex.EncodeToString(kr.keys[i].id[:]) == id {
				k = &kr.keys[i]
				break
			}
		}
		if k == nil {
			return nil, "", fmt.Errorf("seal: no master key with id %s in this keyring", id)
		}
	}
	dk, err := hkdf.Key(sha256.New, k.master, nil, adLabel+"/derive/"+purpose, size)
	return dk, hex.EncodeToString(k.id[:]), err
}

func additionalData(owner, name string) []byte { return appendAD(nil, owner, name) }

// appendAD appends the additional data of (owner, name) to ad, grown once
// to its size (by appends it cost three allocations a GET).
func appendAD(ad []byte, owner, name string) []byte {
	ad = slices.Grow(ad, len(adLabel)+8+len(owner)+len(name))
	ad = append(ad, adLabel...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(owner)))
	ad = append(ad, owner...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(name)))
	ad = append(ad, name...)
	return ad
}

// Seal encrypts plaintext for (owner, name) with the newest key.
func (kr *Keyring) Seal(owner, name string, plaintext []byte) ([]byte, error) {
	k := &kr.keys[0]
	out := make([]byte, header, header+len(plaintext)+k.aead.Overhead())
	out[0] = formatV1
	copy(out[1:], k.id[:])
	if _, err := rand.Read(out[1+idSize : header]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1+idSize:header], plaintext, additionalData(owner, name)), nil
}

// Open decrypts a blob sealed for (owner, name) by any key of the ring.
func (kr *Keyring) Open(owner, name string, blob []byte) ([]byte, error) {
	pt, _, err := kr.openAppend(nil, nil, owner, name, blob)
	return pt, err
}

// openAppend is Open appending the plaintext to dst, with ad as scratch
// space for the additional data; it returns dst grown by the plaintext and
// the scratch for reuse. Listings open many values with one allocation.
func (kr *Keyring) openAppend(dst, ad []byte, owner, name string, blob []byte) (out, scratch []byte, err error) {
	k, err := kr.keyOf(blob)
	if err != nil {
		return nil, ad, err
	}
	ad = appendAD(ad[:0], owner, name)
	out, err = k.aead.Open(dst, blob[1+idSize:header], blob[header:], ad)
	if err != nil {
		return nil, ad, ErrOpen
	}
	return out, ad, nil
}

// plainSize is the plaintext length of a well-formed blob (0 otherwise).
func plainSize(blob []byte) int { return max(len(blob)-header-16, 0) }

// NeedsRekey reports whether blob was sealed by a key other than the newest.
func (kr *Keyring) NeedsRekey(blob []byte) bool {
	k, err := kr.keyOf(blob)
	return err != nil || k != &kr.keys[0]
}

func (kr *Keyring) keyOf(blob []byte) (*key, error) {
	if len(blob) < header+16 || blob[0] != formatV1 {
		return nil, ErrOpen
	}
	for i := range kr.keys {
		if string(kr.keys[i].id[:]) == string(blob[1:1+idSize]) {
			return &kr.keys[i], nil
		}
	}
	return nil, fmt.Errorf("%w: sealed by key %x, which is not in the keyring", ErrOpen, blob[1:1+idSize])
}

// ParseKeys reads master keys, newest first, from text: base64 keys of 32
// bytes separated by commas or newlines; blank lines and # comments skipped.
func ParseKeys(text string) ([][]byte, error) {
	var keys [][]byte
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("master key %d: %w", len(keys)+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no master key found")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d (make one with: head -c 32 /dev/urandom | base64)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("is not base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// NewKey returns a fresh random master key, base64-encoded.
func NewKey() string {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.StdEncoding.EncodeToString(k)
}
