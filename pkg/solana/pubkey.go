package solana

import (
	"fmt"

	"github.com/mr-tron/base58"
)

// PublicKey is a Solana address: 32 bytes, written in base58. It is ours
// rather than solana-go's, whose root package links zap, logrus and
// mongo-driver v1 into the binary for a type and two RPC calls.
type PublicKey [32]byte

// PublicKeyFromBase58 parses a base58 address of exactly 32 bytes.
func PublicKeyFromBase58(s string) (PublicKey, error) {
	b, err := base58.Decode(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("decode base58: %w", err)
	}
	if len(b) != 32 {
		return PublicKey{}, fmt.Errorf("invalid length, expected 32, got %d", len(b))
	}
	return PublicKey(b), nil
}

// MustPublicKeyFromBase58 is PublicKeyFromBase58 for constants; it panics on
// a bad address.
func MustPublicKeyFromBase58(s string) PublicKey {
	pk, err := PublicKeyFromBase58(s)
	if err != nil {
		panic(err)
	}
	return pk
}

// PublicKeyFromBytes copies the first 32 bytes of b (fewer leave zeros).
func PublicKeyFromBytes(b []byte) PublicKey {
	var pk PublicKey
	copy(pk[:], b)
	return pk
}

// String is the base58 address.
func (k PublicKey) String() string { return base58.Encode(k[:]) }

// Equals reports whether k and o are the same address.
func (k PublicKey) Equals(o PublicKey) bool { return k == o }

// IsZero reports whether k is all zeros (the system program).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// MarshalText writes the base58 address.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a base58 address.
func (k *PublicKey) UnmarshalText(b []byte) error {
	pk, err := PublicKeyFromBase58(string(b))
	if err != nil {
		return err
	}
	*k = pk
	return nil
}
