// Package oidcauth verifies OIDC ID tokens (GitHub Actions' first) from a
// fixed list of issuers: discovery with go-oidc, keys (JWKS), signatures
// and claims with go-jose.
//
// An issuer not on the list is never contacted. Discovery and keys are
// fetched over HTTPS with the given client (by default the system's CA
// pool, so SSL_CERT_FILE works), cached, and fetched again when a token
// names an unknown key id — at most once per MinRefresh per issuer, so a
// stream of forged key ids cannot make the server hammer the issuer. Only
// RS256 and ES256 signatures are accepted.
package oidcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GitHubIssuer is GitHub Actions' token issuer.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// MinRefresh is the shortest time between two fetches of one issuer's keys.
const MinRefresh = 10 * time.Second

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = time.Minute

// maxDoc bounds a discovery document or key set.
const maxDoc = 1 << 20

var algs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Reasons of a refusal (Error.Reason), stable: they go into audit events.
const (
	ReasonMalformed     = "malformed_token"    // not a JWS of RS256 or ES256 (alg none, HS256…)
	ReasonUnknownIssuer = "unknown_issuer"     // iss is not an issuer this server accepts
	ReasonUnknownKey    = "unknown_key"        // no key of the issuer has the token's kid
	ReasonSignature     = "bad_signature"      // the signature does not verify
	ReasonAudience      = "wrong_audience"     // aud does not name the expected audience
	ReasonExpired       = "expired"            // exp is past
	ReasonNotYetValid   = "not_yet_valid"      // nbf or iat is in the future
	ReasonClaims        = "claims_mismatch"    // no trust's claims match
	ReasonIssuerDown    = "issuer_unavailable" // discovery or keys could not be fetched
)

// Error is a refused token; Reason is one of the Reason constants.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Config configures a Verifier.
type Config struct {
	// Issuers are the accepted issuers' URLs, exactly as tokens name them.
	Issuers []string
	// Client fetches discovery and keys; nil means one with a 10 s timeout
	// and the default transport (the system's CA pool).
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies tokens of its issuers. It is safe for concurrent use.
type Verifier struct {
	client  *http.Client
	now     func() time.Time
	issuers map[string]*issuer
}

// New returns a Verifier; it contacts no issuer until a token names one.
func New(c Config) *Verifier {
	v := &Verifier{client: c.Client, now: c.Now, issuers: map[string]*issuer{}}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, iss := range c.Issuers {
		v.issuers[iss] = &issuer{url: iss}
	}
	return v
}

// Accepts reports whether iss is one of the verifier's issuers.
func (v *Verifier) Accepts(iss string) bool { return v.issuers[iss] != nil }

// CheckIssuer reports whether s can be an issuer: an https URL with a host
// and no query or fragment.
func CheckIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("OIDC issuer %q is not an https URL like %s", s, GitHubIssuer)
	}
	return nil
}

// Token is a verified token: its issuer, subject and every claim.
type Token struct {
	Issuer, Subject string
	Expiry          time.Time
	Claims          map[string]any
}

// UnverifiedIssuer returns the iss a token claims, without checking it.
func UnverifiedIssuer(raw string) (string, error) {
	t, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return "", refuse(ReasonMalformed, "the token is not a JWT signed with RS256 or ES256")
	}
	var c jwt.Claims
	if err := t.UnsafeClaimsWithoutVerification(&c); err != nil || c.Issuer == "" {
		return "", refuse(ReasonMalformed, "the token names no issuer")
	}
	return c.Issuer, nil
}

// Verify checks raw's signature against its issuer's keys, and its iss,
// aud (it must name one of audiences), exp, nbf and iat.
func (v *Verifier) Verify(ctx context.Context, raw string, audiences []string) (*Token, error) {
	t, err := jwt.ParseSigned(raw, algs)
	if err != nil || len(t.Headers) != 1 {
		return nil, refuse(ReasonMalformed, "the token is not a JWT signed with RS256 or ES256")
	}
	var unverified jwt.Claims
	if err := t.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, refuse(ReasonMalformed, "the token's claims are not JSON")
	}
	iss := v.issuers[unverified.Issuer]
	if iss == nil {
		return nil, refuse(ReasonUnknownIssuer, "the token's issuer %q is not one this server accepts (OIDC_ISSUERS)", unverified.Issuer)
	}
	keys, err := iss.keys(ctx, v, t.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	var claims jwt.Claims
	all := map[string]any{}
	verified := false
	for _, k := range keys {
		if err := t.Claims(k.Key, &claims, &all); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, refuse(ReasonSignature, "the token's signature does not verify with the issuer's keys")
	}
	now := v.now()
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: iss.url, AnyAudience: jwt.Audience(audiences), Time: now}, Leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, refuse(ReasonAudience, "the token's audience is %q, not %q", []string(claims.Audience), audiences)
	case errors.Is(err, jwt.ErrExpired):
		return nil, refuse(ReasonExpired, "the token expired")
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, refuse(ReasonNotYetValid, "the token is not valid yet")
	case err != nil:
		return nil, refuse(ReasonMalformed, "the token's claims do not hold: %v", err)
	}
	if claims.Expiry == nil {
		return nil, refuse(ReasonMalformed, "the token has no exp")
	}
	return &Token{Issuer: iss.url, Subject: claims.Subject, Expiry: claims.Expiry.Time(), Claims: all}, nil
}

// issuer is one accepted issuer: its key set and when it was fetched.
type issuer struct {
	url string

	mu       sync.Mutex
	jwksURL  string
	set      jose.JSONWebKeySet
	fetched  time.Time     // last attempt (discovery or keys), success or not
	err      error         // of the last attempt
	inflight chan struct{} // closed when the fetch under way ends; nil: none
}

// keys returns the issuer's keys with kid ("" : all of them), fetching the
// set first when it has none with kid and the last fetch is MinRefresh old.
// The fetch runs outside i.mu: a token whose key is known never waits for
// it, and one that needs the new set waits for the fetch under way.
func (i *issuer) keys(ctx context.Context, v *Verifier, kid string) ([]jose.JSONWebKey, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	find := func() []jose.JSONWebKey {
		if kid == "" {
			return i.set.Keys
		}
		return i.set.Key(kid)
	}
	if ks := find(); len(ks) > 0 {
		return ks, nil
	}
	if wait := i.inflight; wait != nil {
		i.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		i.mu.Lock()
	} else if now := v.now(); i.fetched.IsZero() || now.Sub(i.fetched) >= MinRefresh {
		i.fetched = now
		done := make(chan struct{})
		i.inflight = done
		jwksURL := i.jwksURL
		i.mu.Unlock()
		// Not the request's own cancel: others may be waiting for this fetch.
		jwksURL, set, err := i.fetch(context.WithoutCancel(ctx), v.client, jwksURL)
		i.mu.Lock()
		i.jwksURL, i.err = jwksURL, err
		if err == nil {
			i.set = set
		}
		i.inflight = nil
		close(done)
	}
	if ks := find(); len(ks) > 0 {
		return ks, nil
	}
	if i.err != nil && len(i.set.Keys) == 0 {
		return nil, refuse(ReasonIssuerDown, "the issuer's keys could not be fetched; try again")
	}
	return nil, refuse(ReasonUnknownKey, "no key of the issuer has the token's key id")
}

// fetch discovers the JWKS URL (when jwksURL is "") and fetches the key
// set; it returns the URL it used (or "") and the set.
func (i *issuer) fetch(ctx context.Context, client *http.Client, jwksURL string) (string, jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var none jose.JSONWebKeySet
	if jwksURL == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), i.url)
		if err != nil {
			return "", none, fmt.Errorf("discovery of %s: %w", i.url, err)
		}
		var d struct {
			JWKS string `json:"jwks_uri"`
		}
		if err := p.Claims(&d); err != nil || CheckIssuer(d.JWKS) != nil {
			return "", none, fmt.Errorf("discovery of %s: no https jwks_uri", i.url)
		}
		jwksURL = d.JWKS
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return jwksURL, none, err
	}
	res, err := client.Do(req)
	if err != nil {
		return jwksURL, none, fmt.Errorf("keys of %s: %w", i.url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return jwksURL, none, fmt.Errorf("keys of %s: status %d", i.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDoc))
	if err != nil {
		return jwksURL, none, fmt.Errorf("keys of %s: %w", i.url, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return jwksURL, none, fmt.Errorf("keys of %s: %w", i.url, err)
	}
	set.Keys = slices.DeleteFunc(set.Keys, func(k jose.JSONWebKey) bool {
		return !k.IsPublic() || k.Use != "" && k.Use != "sig" ||
			k.Algorithm != "" && !slices.Contains(algs, jose.SignatureAlgorithm(k.Algorithm))
	})
	return jwksURL, set, nil
}
