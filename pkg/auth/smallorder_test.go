package auth

import (
	"crypto/ed25519"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/mr-tron/base58"
)

// torsionEncodings returns the canonical encodings of the eight points of
// small order and every non-canonical encoding of them SetBytes accepts.
func torsionEncodings(t *testing.T) [][]byte {
	t.Helper()
	// A point of order 8 ("Taming the many EdDSAs", Table 6).
	p8, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	g, err := new(edwards25519.Point).SetBytes(p8)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	p := edwards25519.NewIdentityPoint()
	for range 8 {
		enc := p.Bytes()
		out = append(out, enc)
		y := append([]byte(nil), enc...)
		y[31] &= 0x7f
		// y+p when it still fits in 255 bits (y < 19).
		if isSmall(y) {
			nc := append([]byte(nil), enc...)
			addP(nc)
			out = append(out, nc, flipSign(nc))
		}
		// x = 0 with the sign bit set.
		if q, err := new(edwards25519.Point).SetBytes(flipSign(enc)); err == nil && q.Equal(p) == 1 {
			out = append(out, flipSign(enc))
		}
		p = new(edwards25519.Point).Add(p, g)
	}
	if p.Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("the point is not of order 8")
	}
	return out
}

func isSmall(y []byte) bool {
	for _, b := range y[1:] {
		if b != 0 {
			return false
		}
	}
	return y[0] < 19
}

// addP adds 2^255-19 to the little-endian y of enc, keeping the sign bit.
func addP(enc []byte) {
	sign := enc[31] & 0x80
	enc[31] &= 0x7f
	pLE := make([]byte, 32)
	pLE[0] = 0xed
	for i := 1; i < 31; i++ {
		pLE[i] = 0xff
	}
	pLE[31] = 0x7f
	carry := 0
	for i := range 32 {
		s := int(enc[i]) + int(pLE[i]) + carry
		enc[i], carry = byte(s), s>>8
	}
	enc[31] |= sign
}

func flipSign(enc []byte) []byte {
	b := append([]byte(nil), enc...)
	b[31] ^= 0x80
	return b
}

func TestSmallOrderKey(t *testing.T) {
	encs := torsionEncodings(t)
	if len(encs) < 14 {
		t.Fatalf("only %d encodings", len(encs))
	}
	for _, enc := range encs {
		if !SmallOrderKey(enc) {
			t.Errorf("%x is not refused", enc)
		}
	}
	for range 100 {
		pub, _, _ := ed25519.GenerateKey(nil)
		if SmallOrderKey(pub) {
			t.Fatalf("a generated key %x is refused", pub)
		}
	}
}

// forgeZeroKey finds a legacy timestamp near now for which the signature
// R = identity, S = 0 verifies for the all-zero key (address
// 11111111111111111111111111111111): ed25519.Verify accepts it whenever the
// challenge scalar is a multiple of the key's order, 4.
func forgeZeroKey(t *testing.T, now int64) (ts int64, sig []byte) {
	t.Helper()
	zero := make([]byte, 32)
	sig = make([]byte, 64)
	sig[0] = 1 // R = identity
	for ts = now; ts < now+50; ts++ {
		if ed25519.Verify(zero, []byte(LegacyPrefix+strconv.FormatInt(ts, 10)), sig) {
			return ts, sig
		}
	}
	t.Fatal("no forgeable timestamp within 50 s")
	return 0, nil
}

func TestLegacyLoginRefusesSmallOrderKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts, sig := forgeZeroKey(t, now.Unix())
	req := LoginRequest{
		Address:   base58.Encode(make([]byte, 32)),
		Signature: base58.Encode(sig),
		Timestamp: strconv.FormatInt(ts, 10),
	}
	if req.Address != "11111111111111111111111111111111" {
		t.Fatalf("zero address %s", req.Address)
	}
	if _, err := VerifyLegacy(req, now, time.Minute); err == nil || !strings.Contains(err.Error(), "small-order") {
		t.Fatalf("forged login for the zero key: err = %v", err)
	}
	for _, enc := range torsionEncodings(t) {
		req.Address = base58.Encode(enc)
		if _, err := VerifyLegacy(req, now, time.Minute); err == nil || !strings.Contains(err.Error(), "small-order") {
			t.Errorf("key %x: err = %v", enc, err)
		}
	}
}

func TestSIWSRefusesSmallOrderKeys(t *testing.T) {
	aud, err := NewAudience("https://secrets.example.com")
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	sig[0] = 1
	for _, enc := range torsionEncodings(t) {
		addr := base58.Encode(enc)
		// Try nonces until Verify accepts the forged signature, where the
		// key allows it; either way the key must be refused.
		var req LoginRequest
		for i := range 64 {
			m := testMessage(addr)
			m.Nonce = "forgery" + strconv.Itoa(1000+i)
			req = LoginRequest{Address: addr, Signature: base58.Encode(sig), Message: m.String()}
			if ed25519.Verify(enc, []byte(req.Message), sig) {
				break
			}
		}
		if _, _, err := VerifySIWS(req, []Audience{aud}, siwsNow, time.Minute); err == nil || !strings.Contains(err.Error(), "small-order") {
			t.Errorf("key %x: err = %v", enc, err)
		}
	}
}
