package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// AccessToken is an access token as the server lists it (GET /v1/tokens):
// never its secret part.
type AccessToken struct {
	ID         string     `json:"id" yaml:"id"`
	Name       string     `json:"name" yaml:"name"`
	Prefix     string     `json:"prefix" yaml:"prefix"`
	Write      bool       `json:"write" yaml:"write"`
	CreatedAt  time.Time  `json:"created_at" yaml:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at" yaml:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty" yaml:"last_used_at,omitempty"`
	Trust      string     `json:"trust,omitempty" yaml:"trust,omitempty"`
	Subject    string     `json:"subject,omitempty" yaml:"subject,omitempty"`
}

// NewAccessToken is what POST /v1/tokens and POST /v1/auth/oidc answer:
// Token is shown this once.
type NewAccessToken struct {
	ID        string    `json:"id" yaml:"id"`
	Token     string    `json:"token" yaml:"token"`
	Name      string    `json:"name,omitempty" yaml:"name,omitempty"`
	Prefix    string    `json:"prefix" yaml:"prefix"`
	Write     bool      `json:"write" yaml:"write"`
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
	Trust     string    `json:"trust,omitempty" yaml:"trust,omitempty"`
}

// TokenRequest asks for an access token; TTL is a duration like "720h"
// or "30d" ("": the server's default, 720h).
type TokenRequest struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
	Write  bool   `json:"write,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

// CreateToken mints an access token (wallet sign-in only).
func (c *Client) CreateToken(ctx context.Context, r TokenRequest) (*NewAccessToken, error) {
	return v1Call[NewAccessToken](ctx, c, http.MethodPost, "/v1/tokens", r)
}

// Tokens lists the owner's access tokens.
func (c *Client) Tokens(ctx context.Context) ([]AccessToken, error) {
	return v1Items[AccessToken](ctx, c, "/v1/tokens")
}

// RevokeToken revokes the access token id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.v1(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// Trust lets an OIDC issuer's tokens with the given claims be exchanged
// for access tokens (POST /v1/trusts).
type Trust struct {
	ID        string            `json:"id,omitempty" yaml:"id"`
	Name      string            `json:"name" yaml:"name"`
	Issuer    string            `json:"issuer,omitempty" yaml:"issuer"`
	Audience  string            `json:"audience,omitempty" yaml:"audience,omitempty"`
	Claims    map[string]string `json:"claims" yaml:"claims"`
	Prefix    string            `json:"prefix,omitempty" yaml:"prefix"`
	Write     bool              `json:"write,omitempty" yaml:"write"`
	TTL       string            `json:"ttl,omitempty" yaml:"ttl"`
	CreatedAt time.Time         `json:"created_at,omitzero" yaml:"created_at"`
}

// CreateTrust stores t and returns it as stored.
func (c *Client) CreateTrust(ctx context.Context, t Trust) (*Trust, error) {
	return v1Call[Trust](ctx, c, http.MethodPost, "/v1/trusts", t)
}

// Trusts lists the owner's trusts.
func (c *Client) Trusts(ctx context.Context) ([]Trust, error) {
	return v1Items[Trust](ctx, c, "/v1/trusts")
}

// DeleteTrust deletes the trust id.
func (c *Client) DeleteTrust(ctx context.Context, id string) error {
	return c.v1(ctx, http.MethodDelete, "/v1/trusts/"+url.PathEscape(id), nil, nil)
}

// ExchangeOIDC trades an OIDC issuer's token for an access token of
// owner's matching trust. It needs no sign-in; the client keeps the token
// it gets for its next requests.
func (c *Client) ExchangeOIDC(ctx context.Context, owner, idToken string) (*NewAccessToken, error) {
	b, err := json.Marshal(map[string]string{"owner": owner, "token": idToken})
	if err != nil {
		return nil, err
	}
	ans, err := c.send(ctx, http.MethodPost, "/v1/auth/oidc", b, "")
	if err != nil {
		return nil, err
	}
	var out NewAccessToken
	if err := json.Unmarshal(ans, &out); err != nil || out.Token == "" {
		return nil, c.badAnswer(http.MethodPost, "/v1/auth/oidc", "an access token")
	}
	c.SetToken(out.Token)
	return &out, nil
}
