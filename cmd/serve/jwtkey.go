package serve

import (
	"bytes"
	"fmt"
)

// minDistinctBytes is the fewest distinct bytes a JWT_SECRET may hold.
// Keys people generate have many more: the base64 of 32 random bytes has
// about 32 of its 44 characters distinct, and even the hex of 16 random
// bytes (32 characters over an alphabet of 16) has fewer than 8 distinct
// characters with a probability of about 4·10⁻⁸ (16 choose 7 alphabets,
// each covering all 32 characters with probability (7/16)³²). So 8 never
// refuses a generated key, and refuses what a person types to fill 32
// bytes: "aaaa…", "11112222…", "xxxxxxxx…y".
const minDistinctBytes = 8

// weakWords are the words of typed placeholder keys: a key that is only
// these (with digits and punctuation) is refused.
var weakWords = [][]byte{
	[]byte("changeme"), []byte("password"), []byte("passwrd"), []byte("passwd"), []byte("secret"),
	[]byte("default"), []byte("example"), []byte("letmein"), []byte("qwerty"), []byte("admin"),
	[]byte("token"), []byte("jwt"), []byte("key"), []byte("pass"),
}

// minLeftover is the fewest letters a key holding weakWords must keep once
// they, digits and punctuation are taken out of it.
const minLeftover = 8

// weakKey says why key is visibly guessable, or "" when it is not. Its
// answer never quotes the key. It is a screen for keys typed by hand, not
// an entropy measure: it refuses
//   - fewer than minDistinctBytes distinct bytes;
//   - a short pattern repeated: the key is its first p bytes over and over
//     (the last time cut short) for some p of at most half its length
//     ("abcabcabc…", "changemechangeme…", a random half pasted twice);
//   - the changeme/secret/password family: weakWords with fewer than
//     minLeftover other letters, digits and punctuation aside
//     ("secret-password-123…", "ChangeMe_2026!…").
func weakKey(key []byte) string {
	var seen [256]bool
	distinct := 0
	for _, b := range key {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct < minDistinctBytes {
		return fmt.Sprintf("it has only %d distinct bytes", distinct)
	}
	if p := period(key); p <= len(key)/2 {
		return fmt.Sprintf("it repeats a pattern of %d bytes", p)
	}
	if letters, words := stripWords(key); words && len(letters) < minLeftover {
		return "it is made of common words (changeme, secret, password, …), digits and punctuation"
	}
	return ""
}

// period is the length of the shortest prefix of key that, repeated,
// gives key (the last repetition may be cut short): len(key) when none.
func period(key []byte) int {
	// The failure function of Knuth–Morris–Pratt: fail[i] is the longest
	// proper border of key[:i+1]; the shortest period is len - border.
	n := len(key)
	if n == 0 {
		return 0
	}
	fail := make([]int, n)
	for i, k := 1, 0; i < n; i++ {
		for k > 0 && key[i] != key[k] {
			k = fail[k-1]
		}
		if key[i] == key[k] {
			k++
		}
		fail[i] = k
	}
	return n - fail[n-1]
}

// stripWords lowercases key's ASCII letters, drops its ASCII digits and
// punctuation (so "passw0rd" is "passwrd"), then removes weakWords
// wherever they occur until none is left; words says whether it removed
// any (the hex of random bytes has few letters, and none of these words).
func stripWords(key []byte) (letters []byte, words bool) {
	var b []byte
	for _, c := range key {
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= 0x80:
			b = append(b, c)
		}
	}
	for {
		n := len(b)
		for _, w := range weakWords {
			b = bytes.ReplaceAll(b, w, nil)
		}
		if len(b) == n {
			return b, words
		}
		words = true
	}
}
