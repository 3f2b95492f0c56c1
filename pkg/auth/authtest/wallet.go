// Package authtest is the wallet of tests: a keypair that signs the
// sign-in bodies the server takes (legacy and Sign-In With Solana).
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
)

// Wallet is a Solana keypair of a test's: its signing key and base58
// address.
type Wallet struct {
	Key  ed25519.PrivateKey
	Addr string
}

// NewWallet returns a new random wallet.
func NewWallet() Wallet {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return WalletOf(k)
}

// WalletFromSeed returns the wallet of a 32-byte ed25519 seed.
func WalletFromSeed(seed []byte) Wallet { return WalletOf(ed25519.NewKeyFromSeed(seed)) }

// WalletOf returns the wallet of key.
func WalletOf(key ed25519.PrivateKey) Wallet {
	return Wallet{Key: key, Addr: base58.Encode(key.Public().(ed25519.PublicKey))}
}

// LegacyLogin is a legacy POST /login body signed for the time ts.
func (w Wallet) LegacyLogin(ts int64) map[string]any {
	s := strconv.FormatInt(ts, 10)
	return map[string]any{
		"address":   w.Addr,
		"signature": base58.Encode(ed25519.Sign(w.Key, []byte("nosana_secret_"+s))),
		"timestamp": ts,
	}
}

// SIWSLogin is a Sign-In With Solana POST /login body for a server whose
// PUBLIC_URL is publicURL, with a fresh nonce, issued now.
func (w Wallet) SIWSLogin(publicURL string) map[string]any {
	n := make([]byte, 10)
	_, _ = rand.Read(n)
	u, err := auth.NewAudience(publicURL)
	if err != nil {
		panic(err)
	}
	m := auth.SIWS{Domain: u.Domain, Address: w.Addr, Statement: auth.Statement, URI: u.URI, Version: "1",
		Nonce: hex.EncodeToString(n), IssuedAt: time.Now().UTC()}
	msg := m.String()
	return map[string]any{"address": w.Addr, "message": msg, "signature": base58.Encode(ed25519.Sign(w.Key, []byte(msg)))}
}
