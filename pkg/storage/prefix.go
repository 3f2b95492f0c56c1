package storage

import "unicode/utf8"

// PrefixEnd returns the smallest string greater than every string that
// starts with prefix, so that a prefix listing is the half-open range
// [prefix, end). ok is false when there is no such bound (prefix is empty or
// made only of U+10FFFF): then the range is open above.
//
// The bound is computed on code points, not bytes, so it is valid UTF-8
// whenever prefix is (a byte-wise increment could produce invalid UTF-8,
// which PostgreSQL and MongoDB refuse). Because UTF-8 byte order equals code
// point order, the range is still exact under byte-wise comparison. The last
// code point is incremented, skipping the surrogates U+D800-U+DFFF; a
// trailing U+10FFFF is dropped and the carry moves left.
//
// If prefix is not valid UTF-8, its trailing bytes equal to 0xFF are dropped
// and the last remaining byte is incremented (a byte-wise bound), which is
// only useful to backends that compare raw bytes.
func PrefixEnd(prefix string) (end string, ok bool) {
	if !utf8.ValidString(prefix) {
		b := []byte(prefix)
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0xFF {
				b[i]++
				return string(b[:i+1]), true
			}
		}
		return "", false
	}
	s := prefix
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r == 0xD800 {
			r = 0xE000
		}
		return s + string(r), true
	}
	return "", false
}
