package client

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
)

// NonceLen is the length of the random nonce of each sign-in message.
const NonceLen = 22 // 22 letters/digits ≈ 131 bits

// Token is a token the server issued, with the claims read from it. The
// claims are not verified (only the server can); they tell who the token
// is for and when it expires.
type Token struct {
	Raw         string
	Address     string    // the caller
	UserAddress string    // whose namespace a job token reads ("" for a plain token)
	Secrets     []string  // keys a job token may read
	Job         string    // the job of a job token, when the server names it
	IssuedAt    time.Time // zero when absent
	Expires     time.Time // zero when absent
}

// ParseToken reads the claims of a raw token without verifying it.
func ParseToken(raw string) (*Token, error) {
	var cl auth.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &cl); err != nil {
		return nil, errors.New("the server's token is not a JWT")
	}
	t := &Token{Raw: raw, Address: cl.Address, UserAddress: cl.UserAddress, Secrets: cl.Secrets, Job: cl.Job}
	if cl.IssuedAt != nil {
		t.IssuedAt = cl.IssuedAt.Time
	}
	if cl.ExpiresAt != nil {
		t.Expires = cl.ExpiresAt.Time
	}
	return t, nil
}

// ValidFor reports whether t is still good for at least margin at now. A
// token without an expiry is treated as expired.
func (t *Token) ValidFor(now time.Time, margin time.Duration) bool {
	return t != nil && t.Raw != "" && !t.Expires.IsZero() && now.Add(margin).Before(t.Expires)
}

// Login signs in with the configured Signer (job-scoped when Job is set),
// keeps the token for later requests, calls OnLogin and returns it.
func (c *Client) Login(ctx context.Context) (*Token, error) {
	if c.signer == nil {
		return nil, &LoginError{Endpoint: c.endpoint, Job: c.job, Legacy: c.legacy, Err: errors.New("no keypair to sign in with")}
	}
	body, err := c.LoginBody()
	if err != nil {
		return nil, &LoginError{Endpoint: c.endpoint, Job: c.job, Legacy: c.legacy, Err: err}
	}
	b, err := c.send(ctx, http.MethodPost, "/login", body, "")
	if err != nil {
		return nil, &LoginError{Endpoint: c.endpoint, Job: c.job, Legacy: c.legacy, Err: err}
	}
	var answer struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(b, &answer) != nil || answer.Token == "" {
		return nil, &LoginError{Endpoint: c.endpoint, Job: c.job, Legacy: c.legacy, Err: c.badAnswer(http.MethodPost, "/login", "a token")}
	}
	tok, err := ParseToken(answer.Token)
	if err != nil {
		return nil, &LoginError{Endpoint: c.endpoint, Job: c.job, Legacy: c.legacy, Err: err}
	}
	c.SetToken(tok.Raw)
	if c.onLogin != nil {
		c.onLogin(tok)
	}
	return tok, nil
}

// loginBody is the POST /login body: a Sign-In With Solana message bound to
// the endpoint, or the legacy timestamp challenge.
// LoginBody signs a fresh sign-in message and returns the POST /login body
// Login would send, for callers that send it themselves (curl, other SDKs).
// Its signature is valid once (the nonce is spent) and for LOGIN_WINDOW.
func (c *Client) LoginBody() ([]byte, error) {
	if c.signer == nil {
		return nil, errors.New("no keypair to sign in with")
	}
	now := c.now().UTC()
	body := map[string]string{"address": c.address}
	var msg string
	if c.legacy {
		ts := strconv.FormatInt(now.Unix(), 10)
		msg = auth.LegacyPrefix + ts
		body["timestamp"] = ts
	} else {
		nonce, err := Nonce()
		if err != nil {
			return nil, err
		}
		msg = c.SignInMessage(nonce, now).String()
		body["message"] = msg
	}
	sig, err := c.signer.Sign(rand.Reader, []byte(msg), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("sign the sign-in message: %w", err)
	}
	body["signature"] = base58.Encode(sig)
	if c.job != "" {
		body["job"] = c.job
	}
	return json.Marshal(body)
}

// SignInMessage is the SIWS message this client signs: bound to the
// endpoint's host and URL, with the given nonce and issue time.
func (c *Client) SignInMessage(nonce string, issuedAt time.Time) auth.SIWS {
	return auth.SIWS{
		Domain:    c.base.Host,
		Address:   c.address,
		Statement: auth.Statement,
		URI:       c.endpoint,
		Version:   "1",
		Nonce:     nonce,
		IssuedAt:  issuedAt.UTC().Truncate(time.Second),
	}
}

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Nonce returns NonceLen random letters and digits.
func Nonce() (string, error) {
	b := make([]byte, NonceLen)
	out := make([]byte, 0, NonceLen)
	for len(out) < NonceLen {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("random nonce: %w", err)
		}
		for _, x := range b {
			// 248 = 4·62: rejecting larger bytes keeps the letters uniform.
			if x < 248 && len(out) < NonceLen {
				out = append(out, nonceAlphabet[int(x)%len(nonceAlphabet)])
			}
		}
	}
	return string(out), nil
}

func addressOf(s crypto.Signer) (string, error) {
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return "", errors.New("the signer is not an ed25519 (Solana) key")
	}
	return base58.Encode(pub), nil
}
