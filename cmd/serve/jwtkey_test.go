package serve

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestWeakKey: typed placeholders are refused, generated keys never.
func TestWeakKey(t *testing.T) {
	for _, k := range []string{
		strings.Repeat("a", 36),
		"changemechangemechangemechangeme",
		strings.Repeat("abc", 11),
		strings.Repeat("0123456789abcdef", 2),
		"xK9#mQ2vL8pR4tZ1" + "xK9#mQ2vL8pR4tZ1" + "xK9", // a random half pasted twice
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefg",         // 7 distinct
		"secret-password-12345678901234567",
		"ChangeMe!Secret!Password!2026-jwt-key",
		"my-passw0rd-secret-token-0000000000",
	} {
		if weakKey([]byte(k)) == "" {
			t.Errorf("%q is accepted", k)
		}
	}
	for _, k := range []string{
		"nosana-secrets-test-jwt-thirty-two-bytes",
		"bench-secret-of-at-least-thirty-two-bytes",
		"browser-test-signing-key-0123456789abcdef",
		"ci-signing-key-of-at-least-32-bytes-long",
		"container-test-signing-key-of-32-bytes-or-more",
	} {
		if why := weakKey([]byte(k)); why != "" {
			t.Errorf("%q is refused: %s", k, why)
		}
	}
	// The ways the README and the message say to make a key, many times:
	// hex of 16 random bytes is the closest to the distinct-byte limit.
	b := make([]byte, 32)
	for range 20000 {
		rand.Read(b)
		for _, k := range []string{base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b[:16]), string(b)} {
			if why := weakKey([]byte(k)); why != "" && len(k) >= 32 {
				t.Fatalf("a random key is refused: %s", why)
			}
		}
	}
}

func TestPeriod(t *testing.T) {
	for k, want := range map[string]int{"a": 1, "aaaa": 1, "abab": 2, "ababa": 2, "abcabcab": 3, "abcd": 4, "aab": 3} {
		if got := period([]byte(k)); got != want {
			t.Errorf("period(%q) = %d, want %d", k, got, want)
		}
	}
}
