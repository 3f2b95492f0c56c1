package testserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
)

// The helpers the server, e2e and browser tests share: a wallet that signs
// in, a free port, a wait for /readyz.

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

// FreePort returns a loopback port nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReady polls base/readyz until it answers 200, failing t after
// timeout; gone, when not nil, stops the wait early (the process exited).
func WaitReady(t testing.TB, base string, timeout time.Duration, gone func() bool) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var res *http.Response
		res, err = client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || gone != nil && gone() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 within %s (%v)", base, timeout, err)
}
