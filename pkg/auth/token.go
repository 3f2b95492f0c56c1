package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is how long a token lives, as with the original server.
const DefaultTokenTTL = time.Hour

// Claims are the token claims of SPEC §2. A plain token has only Address;
// a job token also names the namespace it reads and the keys it may read.
type Claims struct {
	Address     string   `json:"address"`
	UserAddress string   `json:"userAddress,omitempty"`
	Secrets     []string `json:"secrets,omitempty"`
	Job         string   `json:"job,omitempty"`
	// NoGrantList marks a job token whose document has no grant list, as
	// opposed to an empty one: listing answers 400, not {}.
	NoGrantList bool `json:"noGrantList,omitempty"`
	// Running marks a node's token for a running job: every read re-checks
	// that the node still runs it.
	Running bool `json:"running,omitempty"`
	jwt.RegisteredClaims

	// Access is set for an access token (nst_…, never a JWT): the owner
	// is Address, and the token reads (and maybe writes) under a prefix.
	Access *Access `json:"-"`

	// Decoded once, when the token is verified, and kept with it in the
	// verified-token cache: no read of a job token decodes them again.
	addressKey, jobKey ed25519.PublicKey
	grants             map[string]struct{}
}

// decode fills the decoded forms of the claims; a field that does not
// decode stays nil.
func (c *Claims) decode() {
	c.addressKey, _ = ParseAddress("address", c.Address)
	if c.Job != "" {
		c.jobKey, _ = ParseAddress("job", c.Job)
	}
	if len(c.Secrets) > 0 {
		c.grants = make(map[string]struct{}, len(c.Secrets))
		for _, k := range c.Secrets {
			c.grants[k] = struct{}{}
		}
	}
}

// AddressKey is the token's address as a key, nil when it is not one
// (tokens of the original server named any string).
func (c *Claims) AddressKey() ed25519.PublicKey { return c.addressKey }

// JobKey is the token's job address as a key, nil without a job or when it
// is not one.
func (c *Claims) JobKey() ed25519.PublicKey { return c.jobKey }

// Scoped reports whether the token is job-scoped (reads limited to Secrets
// in UserAddress's namespace).
func (c *Claims) Scoped() bool { return c.Job != "" || c.UserAddress != "" }

// ReadNamespace is the owner whose secrets the token reads.
func (c *Claims) ReadNamespace() string {
	if c.UserAddress != "" {
		return c.UserAddress
	}
	return c.Address
}

// Grants reports whether a job token may read key (exact match).
func (c *Claims) Grants(key string) bool {
	if c.grants != nil {
		_, ok := c.grants[key]
		return ok
	}
	for _, k := range c.Secrets { // claims not from Verify
		if k == key {
			return true
		}
	}
	return false
}

// Tokens issues and verifies HS256 tokens under one key.
type Tokens struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser

	// verified remembers tokens that passed Verify, so a client that sends
	// the same token again costs a map lookup, not an HMAC and a JSON parse.
	// Keys are SHA-256 digests, so a lookup never compares a sent token
	// with a valid one byte by byte.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]*Claims
}

// maxVerified bounds the verified-token cache.
const maxVerified = 10000

// MinKeyLen is the shortest token signing key accepted: a shorter one can
// be found from a single token by brute force, and then any token forged.
const MinKeyLen = 32

// CheckKey reports whether key is long enough to sign tokens.
func CheckKey(key []byte) error {
	if len(key) < MinKeyLen {
		return fmt.Errorf("the token signing key is %d bytes; it must be at least %d random bytes (make one with: openssl rand -base64 32)", len(key), MinKeyLen)
	}
	return nil
}

// NewTokens returns a token issuer for key, which must pass CheckKey. now
// is the clock (nil: time.Now).
func NewTokens(key []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	return newTokens(key, ttl, now), nil
}

func newTokens(key []byte, ttl time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{
		key:      key,
		ttl:      ttl,
		now:      now,
		verified: map[[sha256.Size]byte]*Claims{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(now),
			jwt.WithLeeway(5*time.Second),
		),
	}
}

// RandomKey returns 32 random bytes for a per-process token key.
func RandomKey() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// Issue signs c, filling iat, exp (capped at notAfter when it is set and
// earlier) and a fresh jti, and returns the token and its expiry.
func (t *Tokens) Issue(c Claims, notAfter time.Time) (string, time.Time, error) {
	now := t.now().Truncate(time.Second)
	exp := now.Add(t.ttl)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter.Truncate(time.Second)
	}
	if !exp.After(now) {
		return "", time.Time{}, errorf("the job's time is up; no token can be issued")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(exp)
	c.ID = hex.EncodeToString(jti)
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// ErrInvalidToken is any token that fails verification; callers answer 403.
var ErrInvalidToken = errors.New("invalid token")

// ErrTokenExpired is wrapped, beside ErrInvalidToken, by the error for a
// token past its expiry.
var ErrTokenExpired = errors.New("token expired; log in again")

// Verify checks the signature (HS256 only), expiry and claims of a token.
// The Claims returned are shared between calls: do not modify them.
func (t *Tokens) Verify(token string) (*Claims, error) {
	key := tokenKey(token)
	t.mu.Lock()
	c, ok := t.verified[key]
	t.mu.Unlock()
	if ok {
		if t.now().Before(c.ExpiresAt.Time) {
			return c, nil
		}
		t.mu.Lock()
		delete(t.verified, key)
		t.mu.Unlock()
	}
	c, err := t.verify(token)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	for k := range t.verified {
		if len(t.verified) < maxVerified {
			break
		}
		delete(t.verified, k)
	}
	t.verified[key] = c
	t.mu.Unlock()
	return c, nil
}

// tokenKey is the verified-token cache's key for token: its SHA-256, hashed
// from a copy on the stack when it is of a usual size ([]byte(token) would
// allocate one each request).
func tokenKey(token string) [sha256.Size]byte {
	var buf [1024]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

func (t *Tokens) verify(token string) (*Claims, error) {
	var c Claims
	if _, err := t.parser.ParseWithClaims(token, &c, t.keyFunc); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
		}
		return nil, fmt.Errorf("%w: token is malformed or not signed by this server", ErrInvalidToken)
	}
	if c.Address == "" {
		return nil, fmt.Errorf("%w: token has no address", ErrInvalidToken)
	}
	// The original server's job tokens carry userAddress and secrets but
	// no job, so nothing could check that the job still runs. Its plain
	// owner tokens (address only) stay good.
	if c.Job == "" && (c.Secrets != nil || (c.UserAddress != "" && c.UserAddress != c.Address)) {
		return nil, fmt.Errorf("%w: job token without a job (from an older server?); log in again with the job", ErrInvalidToken)
	}
	c.decode()
	return &c, nil
}

func (t *Tokens) keyFunc(*jwt.Token) (any, error) { return t.key, nil }
