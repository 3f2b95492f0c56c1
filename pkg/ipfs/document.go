// Package ipfs fetches job and result documents of Nosana jobs from an IPFS
// gateway and reads their grant lists.
//
// A job account stores the digest of each document's CIDv0: the sha256 of
// the root dag-pb node an IPFS importer made of the file, not of the file's
// bytes. CID turns it into the CID a gateway serves; FileDigest rebuilds it
// from the bytes. Client fetches with a timeout, a size cap and a status
// check, refuses bytes that do not match the digest and anything but a JSON
// object, and caches what it fetched by CID (content addressing makes a
// checked document valid forever).
package ipfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mr-tron/base58"
)

// CID returns the CIDv0 of a document whose digest the chain stores:
// base58(0x12 0x20 ‖ digest), the multihash of a sha2-256 digest.
func CID(digest [32]byte) string {
	b := make([]byte, 0, 34)
	b = append(b, 0x12, 0x20)
	b = append(b, digest[:]...)
	return base58.Encode(b)
}

// Document is a parsed job or result JSON object. Documents returned by
// Client are shared through its cache: treat them as read-only.
type Document map[string]any

// GrantsKey is the entry of a document's "state" object that lists the
// secrets a job grants.
const GrantsKey = "nosana/secrets"

// ParseDocument parses a job or result document, which must be one JSON
// object. Errors wrap ErrInvalidDocument.
func ParseDocument(b []byte) (Document, error) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidDocument)
	}
	if t[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object (found %s)", ErrInvalidDocument, kindOf(t[0]))
	}
	var doc Document
	if err := json.Unmarshal(t, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: not valid JSON (offset %d: %v)", ErrInvalidDocument, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidDocument, err)
	}
	return doc, nil
}

func kindOf(c byte) string {
	switch {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == '<':
		return "'<': HTML?"
	}
	return fmt.Sprintf("%q", c)
}

// Grants returns the secret keys a document grants: the array
// state["nosana/secrets"] when there is one, else the top-level array
// "secrets", else nothing. Whichever array is chosen is authoritative even
// if it holds no usable entry. Entries that are not strings, and empty
// strings, are skipped; duplicates are dropped; order is kept.
func Grants(doc Document) []string {
	if state, ok := doc["state"].(map[string]any); ok {
		if list, ok := state[GrantsKey].([]any); ok {
			return stringEntries(list)
		}
	}
	if list, ok := doc["secrets"].([]any); ok {
		return stringEntries(list)
	}
	return []string{}
}

func stringEntries(list []any) []string {
	out := make([]string, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok || s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// HasGrantList reports whether a document grants a list, possibly empty: it
// has one of the arrays Grants reads, or no "state" at all (the node writes
// such result documents for Docker jobs; the original server granted them
// an empty list). A "state" with neither array is no grant list.
func HasGrantList(doc Document) bool {
	if doc["state"] == nil {
		return true
	}
	if state, ok := doc["state"].(map[string]any); ok {
		if _, ok := state[GrantsKey].([]any); ok {
			return true
		}
	}
	_, ok := doc["secrets"].([]any)
	return ok
}
