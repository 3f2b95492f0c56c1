package cmdutil

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/client"
)

// CheckKey refuses, as a usage error before any request, a key the server
// would refuse: empty, over client.MaxKeyLen bytes, not UTF-8, or holding
// NUL. what names it in the message ("KEY", "--prefix").
func CheckKey(what, key string) error {
	switch {
	case key == "":
		return Usagef("%s must not be empty", what)
	case len(key) > client.MaxKeyLen:
		return Usagef("%s %s… is %d bytes; keys are at most %d", what, clip(key), len(key), client.MaxKeyLen)
	case !utf8.ValidString(key):
		return Usagef("%s %s is not valid UTF-8", what, clip(key))
	case strings.IndexByte(key, 0) >= 0:
		return Usagef("%s %s holds a NUL character, which no key may", what, clip(key))
	}
	return nil
}

// CheckPrefix is CheckKey for a prefix, which may be empty.
func CheckPrefix(what, prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(what, prefix)
}

// CheckJob refuses a --job that is not a Solana address (base58 of 32
// bytes) as a usage error, before any request.
func CheckJob(job string) error {
	if job == "" {
		return nil
	}
	if len(job) > 44 {
		return Usagef("--job %s… is not a Solana address (too long)", clip(job))
	}
	b, err := base58.Decode(job)
	if err != nil || len(b) != 32 {
		return Usagef("--job %s is not a Solana address (base58 of 32 bytes)", clip(job))
	}
	return nil
}

// clip quotes the start of s for a message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
	}
	return strconv.Quote(s)
}
