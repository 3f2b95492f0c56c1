package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// AccessPrefix opens every access token, so secret scanners recognise one.
const AccessPrefix = "nst_"

// An access token is AccessPrefix, an id of accessIDLen hex digits, "_",
// and accessSecretLen hex digits of 256 random bits:
//
//	nst_0123456789abcdef_<64 hex digits>
//
// The id names the token's record; only the SHA-256 of the whole token is
// stored, so the store cannot give a token back.
const (
	accessIDLen     = 16
	accessSecretLen = 64
	// AccessTokenLen is the length of an access token.
	AccessTokenLen = len(AccessPrefix) + accessIDLen + 1 + accessSecretLen
)

// NewAccessToken returns a fresh token and its id.
func NewAccessToken() (token, id string) {
	var b [8 + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	id = hex.EncodeToString(b[:8])
	return AccessPrefix + id + "_" + hex.EncodeToString(b[8:]), id
}

// IsAccessToken reports whether tok has an access token's prefix.
func IsAccessToken(tok string) bool { return strings.HasPrefix(tok, AccessPrefix) }

// ParseAccessToken returns the id of a well-formed access token.
func ParseAccessToken(tok string) (id string, ok bool) {
	if len(tok) != AccessTokenLen || !IsAccessToken(tok) || tok[len(AccessPrefix)+accessIDLen] != '_' {
		return "", false
	}
	id = tok[len(AccessPrefix) : len(AccessPrefix)+accessIDLen]
	if !lowerHex(id) || !lowerHex(tok[len(AccessPrefix)+accessIDLen+1:]) {
		return "", false
	}
	return id, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// HashAccessToken is what the store keeps of a token: the hex SHA-256 of
// it. A token has 256 random bits, so no slow hash is needed.
func HashAccessToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// AccessHashMatches compares tok's hash with a stored one in constant time.
func AccessHashMatches(tok, stored string) bool {
	return subtle.ConstantTimeCompare([]byte(HashAccessToken(tok)), []byte(stored)) == 1
}

// Access is the scope of an access token: the owner's secrets under
// Prefix ("" = all), read-only unless Write. Trust and Subject are set
// when it was exchanged for an OIDC token.
type Access struct {
	ID, Name string
	Prefix   string
	Write    bool
	Trust    string // the trust's id
	Subject  string // the OIDC token's sub

	actor string // Actor, made once by NewAccess
}

// NewAccess returns a, its Actor made once for every request it serves.
func NewAccess(a Access) *Access {
	a.actor = a.makeActor()
	return &a
}

// Allows reports whether the token may read key (write: also write it).
func (a *Access) Allows(key string, write bool) bool {
	return strings.HasPrefix(key, a.Prefix) && (a.Write || !write)
}

// Actor names the token in audit events: "token <id> (<name>)", or for an
// exchanged one "trust <trust id> (<name>) <subject>".
func (a *Access) Actor() string {
	if a.actor != "" {
		return a.actor
	}
	return a.makeActor()
}

func (a *Access) makeActor() string {
	if a.Trust != "" {
		return "trust " + a.Trust + " (" + a.Name + ") " + a.Subject
	}
	return "token " + a.ID + " (" + a.Name + ")"
}
