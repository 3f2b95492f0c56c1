package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
)

// errDuplicateKey: a v1 body names one key twice in one object.
var errDuplicateKey = errors.New("duplicate object key")

// checkUniqueKeys refuses a JSON document (already known to be valid) in
// which an object names a key twice. Parsers disagree on which of two
// wins (encoding/json: the last; others: the first or an error), so
// {"value":1,"cas":0,"cas":null} would be a conditional write to one
// reader and an unconditional one to another. It refuses them at every
// depth, inside a stored value too: a value one consumer reads otherwise
// than another is not stored. Keys compare after unescaping ("c\u0061s"
// is "cas"); at the top level, where encoding/json matches the request's
// fields without regard to case (with Unicode folding: "ca\u017f" is
// "cas"), they compare as it does. Nested keys compare exactly: {"a":1,
// "A":2} is a fine value.
func checkUniqueKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				valueDone(stack)
				continue
			}
			key, _ := tok.(string)
			if len(stack) == 1 {
				key = foldKey(key)
			}
			if _, dup := top.keys[key]; dup {
				return errDuplicateKey
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, jsonFrame{object: true, wantKey: true, keys: map[string]struct{}{}})
		case json.Delim('['):
			stack = append(stack, jsonFrame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone(stack)
		default:
			valueDone(stack)
		}
	}
}

// jsonFrame is an open object or array of checkUniqueKeys.
type jsonFrame struct {
	object  bool
	wantKey bool // an object's next token is a key
	keys    map[string]struct{}
}

// valueDone notes that a value is complete: an enclosing object waits for
// its next key.
func valueDone(stack []jsonFrame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].wantKey = true
	}
}

// foldKey maps a key to one representative of the keys encoding/json
// takes for the same struct field: each rune to the smallest of its
// simple case-folding orbit (k, K and the Kelvin sign K are one).
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}
