package auth

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
)

func TestVectorLegacyLogin(t *testing.T) {
	v := vectors.Load(t)
	seed, _ := hex.DecodeString(v.Keypair.SeedHex)
	key := ed25519.NewKeyFromSeed(seed)
	if got := base58.Encode(key.Public().(ed25519.PublicKey)); got != v.Keypair.Address {
		t.Fatalf("address from seed = %s, want %s", got, v.Keypair.Address)
	}
	msg := LegacyPrefix + "1700000000"
	if msg != v.LegacyLogin.MessageUTF8 {
		t.Fatalf("message %q, want %q", msg, v.LegacyLogin.MessageUTF8)
	}
	if got := base58.Encode(ed25519.Sign(key, []byte(msg))); got != v.LegacyLogin.SignatureBase58 {
		t.Fatalf("signature %s, want %s", got, v.LegacyLogin.SignatureBase58)
	}
	body := `{"address":"` + v.Keypair.Address + `","signature":"` + v.LegacyLogin.SignatureBase58 + `","timestamp":1700000000}`
	req, err := ParseLoginRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(v.LegacyLogin.Timestamp, 0)
	for _, skew := range []time.Duration{0, 59 * time.Second, -60 * time.Second, 60 * time.Second} {
		pub, err := VerifyLegacy(req, now.Add(skew), time.Minute)
		if err != nil {
			t.Errorf("skew %s: %v", skew, err)
		} else if !pub.Equal(key.Public()) {
			t.Errorf("VerifyLegacy returned key %x, not the signer's", pub)
		}
	}
	for _, skew := range []time.Duration{61 * time.Second, -61 * time.Second, 24 * time.Hour} {
		if _, err := VerifyLegacy(req, now.Add(skew), time.Minute); err == nil || !strings.Contains(err.Error(), "login window") {
			t.Errorf("skew %s: err = %v, want a window error", skew, err)
		}
	}
	// The same timestamp as a decimal string signs the same message.
	req2, err := ParseLoginRequest([]byte(strings.Replace(body, `1700000000}`, `"1700000000"}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyLegacy(req2, now, time.Minute); err != nil {
		t.Errorf("string timestamp: %v", err)
	}
	// A signature over another timestamp does not verify.
	req2.Timestamp = "1700000001"
	if _, err := VerifyLegacy(req2, now, time.Minute); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("other timestamp: err = %v", err)
	}
}

func TestParseLoginRequestRejects(t *testing.T) {
	const addr = "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"
	cases := []struct{ body, want string }{
		{``, "JSON object"},
		{`[]`, "JSON object"},
		{`"x"`, "JSON object"},
		{`{`, "JSON object"},
		{`{}`, "address is required"},
		{`{"address":1,"signature":"x","timestamp":1}`, "address must be a string"},
		{`{"address":"` + addr + `","timestamp":1}`, "signature is required"},
		{`{"address":"` + addr + `","signature":"x"}`, "timestamp is required"},
		{`{"address":"` + addr + `","signature":"x","timestamp":"abc"}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":1.5}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":-1}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":1e9}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":true}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":{}}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":""}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":123456789012345678901}`, "integer"},
		{`{"address":"` + addr + `","signature":"x","timestamp":1,"message":"m"}`, "not both"},
		{`{"address":"` + addr + `","signature":"x","timestamp":1,"job":5}`, "job must be a string"},
	}
	for _, c := range cases {
		_, err := ParseLoginRequest([]byte(c.body))
		var ae *Error
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want *Error containing %q", c.body, err, c.want)
		}
	}
}

func TestVerifySignatureRejects(t *testing.T) {
	v := vectors.Load(t)
	msg := []byte(v.LegacyLogin.MessageUTF8)
	sig := v.LegacyLogin.SignatureBase58
	short := base58.Encode(make([]byte, 31))
	cases := []struct{ addr, sig, want string }{
		{"0OIl", sig, "not valid base58"},
		{short, sig, "32 bytes, got 31"},
		{strings.Repeat("z", 45), sig, "too long"},
		{strings.Repeat("1", 1<<20), sig, "too long"},
		{v.Keypair.Address, "0OIl", "not valid base58"},
		{v.Keypair.Address, base58.Encode(make([]byte, 63)), "64 bytes, got 63"},
		{v.Keypair.Address, strings.Repeat("z", 1<<20), "too long"},
		{v.Keypair.Address, base58.Encode(make([]byte, 64)), "does not match"},
		{base58.Encode(make([]byte, 32)), sig, "small-order"},
	}
	for _, c := range cases {
		_, err := VerifySignature(c.addr, c.sig, msg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("addr %.20q sig %.20q: err = %v, want %q", c.addr, c.sig, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), sig) {
			t.Errorf("error echoes the signature: %v", err)
		}
	}
	if _, err := VerifySignature(v.Keypair.Address, sig, msg); err != nil {
		t.Errorf("valid signature: %v", err)
	}
}
