package auth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
)

func TestVectorTokenVerifies(t *testing.T) {
	v := vectors.Load(t)
	at := func() time.Time { return time.Unix(v.JWT.Claims.Iat+10, 0) }
	// The vector's key is shorter than NewTokens accepts; the token is
	// checked with the same verifier all the same.
	tk := newTokens([]byte(v.JWT.Secret), 0, at)
	c, err := tk.Verify(v.JWT.Token)
	if err != nil {
		t.Fatalf("original server's token: %v", err)
	}
	if c.Address != v.JWT.Claims.Address || c.Scoped() || c.ReadNamespace() != v.JWT.Claims.Address {
		t.Errorf("claims = %+v", c)
	}
	if c.ExpiresAt.Unix() != v.JWT.Claims.Exp || c.IssuedAt.Unix() != v.JWT.Claims.Iat {
		t.Errorf("iat/exp = %v/%v", c.IssuedAt, c.ExpiresAt)
	}
	// Expired once exp has passed.
	late := newTokens([]byte(v.JWT.Secret), 0, func() time.Time { return time.Unix(v.JWT.Claims.Exp+60, 0) })
	if _, err := late.Verify(v.JWT.Token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after exp: err = %v", err)
	}
	// Another server's key refuses it.
	other, _ := NewTokens(RandomKey(), 0, at)
	if _, err := other.Verify(v.JWT.Token); err == nil {
		t.Error("token verified under the wrong key")
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tk, _ := NewTokens(RandomKey(), time.Hour, func() time.Time { return now })
	tok, exp, err := tk.Issue(Claims{Address: "A", UserAddress: "P", Secrets: []string{"s1"}, Job: "J"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("exp = %v", exp)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if string(header) != `{"alg":"HS256","typ":"JWT"}` {
		t.Errorf("header = %s", header)
	}
	c, err := tk.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Scoped() || c.ReadNamespace() != "P" || !c.Grants("s1") || c.Grants("s") || c.Grants("s1 ") || c.ID == "" {
		t.Errorf("claims = %+v", c)
	}
	tok2, _, _ := tk.Issue(Claims{Address: "A"}, time.Time{})
	c2, _ := tk.Verify(tok2)
	if c2.ID == c.ID {
		t.Error("two tokens share a jti")
	}
	// A job deadline earlier than the TTL caps exp; a past one refuses.
	_, exp, _ = tk.Issue(Claims{Address: "A"}, now.Add(10*time.Minute))
	if !exp.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("capped exp = %v", exp)
	}
	if _, _, err := tk.Issue(Claims{Address: "A"}, now.Add(-time.Second)); err == nil {
		t.Error("issued a token past its deadline")
	}
}

func TestVerifyRefusesOtherAlgorithms(t *testing.T) {
	now := time.Unix(1700000000, 0)
	key := RandomKey()
	tk, _ := NewTokens(key, time.Hour, func() time.Time { return now })
	claims := Claims{Address: "A", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}

	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(key)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Address: "A"}).SignedString(key)
	noAddr, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{RegisteredClaims: claims.RegisteredClaims}).SignedString(key)
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))

	for name, tok := range map[string]string{
		"alg none":                     none,
		"none header, hs256 signature": noneHeader + "." + parts[1] + "." + parts[2],
		"none, no signature":           noneHeader + "." + parts[1] + ".",
		"HS512":                        hs512,
		"no exp":                       noExp,
		"no address":                   noAddr,
		"tampered payload":             parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"address":"B","exp":9999999999}`)) + "." + parts[2],
		"garbage":                      "not-a-token",
		"empty":                        "",
	} {
		if _, err := tk.Verify(tok); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := tk.Verify(good); err != nil {
		t.Errorf("good token: %v", err)
	}
}

// FuzzVerifyToken: no input panics, and nothing verifies unless it is a
// token this key signed — a fuzzer cannot forge one by mutation.
func FuzzVerifyToken(f *testing.F) {
	now := time.Unix(1700000000, 0)
	key := []byte("fuzz-key-of-thirty-two-bytes-xxx")
	tk, _ := NewTokens(key, time.Hour, func() time.Time { return now })
	good, _, _ := tk.Issue(Claims{Address: "A", UserAddress: "P", Secrets: []string{"s"}, Job: "J", Running: true}, time.Time{})
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhZGRyZXNzIjoiQSIsImV4cCI6OTk5OTk5OTk5OX0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := tk.Verify(tok)
		if err != nil {
			return
		}
		if c.Address == "" {
			t.Fatalf("verified a token without an address: %q", tok)
		}
		// Only a token whose signature the key made can verify: re-signing
		// its header and payload must give back the same token.
		parts := strings.Split(tok, ".")
		sig, err := jwt.SigningMethodHS256.Sign(parts[0]+"."+parts[1], key)
		if err != nil || base64.RawURLEncoding.EncodeToString(sig) != strings.TrimRight(parts[2], "=") {
			t.Fatalf("verified a token not signed with the key: %q", tok)
		}
	})
}

func TestNewTokensRefusesShortKeys(t *testing.T) {
	for _, key := range []string{"", "x", "nosana-jwt-secret", strings.Repeat("k", MinKeyLen-1)} {
		if _, err := NewTokens([]byte(key), 0, nil); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%d-byte key: err = %v", len(key), err)
		}
	}
	if _, err := NewTokens([]byte(strings.Repeat("k", MinKeyLen)), 0, nil); err != nil {
		t.Errorf("%d-byte key: %v", MinKeyLen, err)
	}
}

// TestVerifyRefusesJobTokensWithoutJob: a token of the original server's
// job shape (userAddress and secrets, no job) is refused; its plain owner
// token shape is not.
func TestVerifyRefusesJobTokensWithoutJob(t *testing.T) {
	now := time.Unix(1700000000, 0)
	key := RandomKey()
	tk, _ := NewTokens(key, time.Hour, func() time.Time { return now })
	exp := jwt.NewNumericDate(now.Add(time.Hour))
	sign := func(m jwt.MapClaims) string {
		m["exp"], m["iat"] = exp, now.Unix()
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(key)
		return s
	}
	for _, m := range []jwt.MapClaims{
		{"address": "NODE", "userAddress": "PROJECT", "secrets": []string{"k"}},
		{"address": "NODE", "userAddress": "PROJECT", "secrets": []string{}},
		{"address": "NODE", "userAddress": "PROJECT"},
		{"address": "NODE", "secrets": []string{"k"}},
		{"address": "NODE", "userAddress": "NODE", "secrets": []string{"k"}},
	} {
		if _, err := tk.Verify(sign(m)); err == nil || !strings.Contains(err.Error(), "job token without a job") {
			t.Errorf("%v: err = %v", m, err)
		}
	}
	for _, m := range []jwt.MapClaims{
		{"address": "OWNER"},
		{"address": "OWNER", "userAddress": "OWNER"},
		{"address": "NODE", "userAddress": "PROJECT", "secrets": []string{"k"}, "job": "JOB"},
	} {
		if _, err := tk.Verify(sign(m)); err != nil {
			t.Errorf("%v: %v", m, err)
		}
	}
}

// TestVerifyDecodesOnce: a verified token carries its address and job as
// keys and its grants as a set, and the cached claims keep them.
func TestVerifyDecodesOnce(t *testing.T) {
	tokens, err := NewTokens(bytes.Repeat([]byte{3}, 32), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, job := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	tok, _, err := tokens.Issue(Claims{Address: base58.Encode(addr), UserAddress: "p", Job: base58.Encode(job), Secrets: []string{"a", "b"}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // verified, then from the cache
		c, err := tokens.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.AddressKey(), addr) || !bytes.Equal(c.JobKey(), job) {
			t.Fatalf("keys %x %x", c.AddressKey(), c.JobKey())
		}
		if !c.Grants("a") || !c.Grants("b") || c.Grants("c") || c.grants == nil {
			t.Fatalf("grants %v", c.grants)
		}
	}
	bad, _, _ := tokens.Issue(Claims{Address: "not-base58!", Job: "x"}, time.Time{})
	if c, err := tokens.Verify(bad); err != nil || c.AddressKey() != nil || c.JobKey() != nil {
		t.Fatalf("malformed names decoded: %v", err)
	}
}
