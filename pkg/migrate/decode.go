package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Reasons a record is refused. They describe the record, never its value.
var (
	ErrAddress  = errors.New("the owner is not a base58 address of 32 bytes")
	ErrName     = errors.New("the name cannot be stored here")
	ErrEnvelope = errors.New("the value is not a keyv record {\"value\":…,\"expires\":…}")
	ErrJSON     = errors.New("the value is not JSON")
	ErrBinary   = errors.New("the value holds binary data (json-buffer :base64:), which JSON cannot carry")
)

// SplitKey splits a record key "<address>:<name>" at its first ':' and
// checks both halves: the address must decode to 32 bytes, the name must be
// one this server stores (storage.CheckName). The error wraps ErrAddress or
// ErrName.
func SplitKey(key string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(key, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: the record key has no ':'", ErrAddress)
	}
	if b, err := base58.Decode(owner); err != nil || len(b) != 32 {
		return owner, name, ErrAddress
	}
	if err := storage.CheckName("name", name); err != nil {
		why := strings.TrimPrefix(err.Error(), storage.ErrInvalid.Error()+": name ")
		return owner, name, fmt.Errorf("%w: it %s", ErrName, why)
	}
	return owner, name, nil
}

// Decode turns the text the original stored, {"value":V,"expires":E},
// into the JSON the user sent: V with json-buffer's escaping undone
// (Unescape), compacted. It reports expired when E is a time in
// milliseconds before now. Its errors never contain the value.
func Decode(stored []byte, now time.Time) (value []byte, expired bool, err error) {
	var env struct {
		Value   json.RawMessage `json:"value"`
		Expires *float64        `json:"expires"`
	}
	if !utf8.Valid(stored) {
		return nil, false, fmt.Errorf("%w: it is not valid UTF-8", ErrEnvelope)
	}
	if err := json.Unmarshal(stored, &env); err != nil || env.Value == nil {
		return nil, false, ErrEnvelope
	}
	if env.Expires != nil && *env.Expires < float64(now.UnixMilli()) {
		return nil, true, nil
	}
	v, err := Unescape(env.Value)
	if err != nil {
		return nil, false, err
	}
	return v, false, nil
}

// Unescape undoes json-buffer 3's escaping in the JSON text v: every string
// it wrote starting with ':' got one more ':' in front, object keys
// included. One leading ':' is removed from each string and key that has
// one; a string value starting ":base64:" was a Buffer and fails with
// ErrBinary. Everything else (numbers, key order, escapes) is kept byte
// for byte, and the result is compact. v must be valid JSON (ErrJSON).
func Unescape(v []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil, ErrJSON
	}
	in := buf.Bytes()
	out := make([]byte, 0, len(in))
	// Depth-tracked "is the next string an object key" needs no full
	// parser: in compact valid JSON a string is a key exactly when it
	// follows '{' or ',' inside an object.
	var stack []byte // '{' or '['
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch c {
		case '{', '[':
			stack = append(stack, c)
		case '}', ']':
			stack = stack[:len(stack)-1]
		case '"':
			isKey := len(stack) > 0 && stack[len(stack)-1] == '{' && (in[i-1] == '{' || in[i-1] == ',')
			end := stringEnd(in, i)
			s := in[i : end+1]
			if len(s) > 2 && s[1] == ':' {
				if !isKey && bytes.HasPrefix(s, []byte(`":base64:`)) {
					return nil, ErrBinary
				}
				out = append(out, '"')
				out = append(out, s[2:]...)
			} else {
				out = append(out, s...)
			}
			i = end
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// stringEnd returns the index of the '"' closing the string that opens at
// in[start], which must be valid JSON.
func stringEnd(in []byte, start int) int {
	for i := start + 1; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(in) - 1
}
