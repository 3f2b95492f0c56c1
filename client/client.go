// Package client is a typed Go client of the nosana-secrets REST API
// (SPEC.md §2): sign-in, and listing, reading, storing and deleting secrets.
//
// A Client holds one http.Client with timeouts and sends a
// "nosana-secrets/<version>" user agent. With a Signer it signs in by itself
// when it has no token, and signs in again once when the server answers 403
// (an expired token), so callers only deal with secrets.
//
// Errors are typed: *HTTPError for an answer with an error status (use
// IsNotFound and friends), *NetworkError when the server could not be
// reached or did not answer in time, *LoginError around either when
// signing in failed.
package client

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/buildinfo"
)

// DefaultEndpoint is where a local `nosana-secrets serve` listens.
const DefaultEndpoint = "http://localhost:4124"

// MaxKeyLen is the longest key the server accepts, in bytes.
const MaxKeyLen = 512

// DefaultTimeout bounds each request, from dialling to the last body byte.
const DefaultTimeout = 30 * time.Second

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 20

// Config configures a Client. Only Endpoint is required.
type Config struct {
	// Endpoint is the server's base URL, e.g. "https://secrets.example.com"
	// or "http://localhost:4124". A path is kept as a prefix of every route.
	Endpoint string
	// HTTPClient sends the requests; nil means one with Timeout. Its own
	// Timeout is left alone when set.
	HTTPClient *http.Client
	// Timeout bounds each request when HTTPClient is nil; 0 means DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent with every request; "" means "nosana-secrets/<version>".
	UserAgent string

	// Signer signs in (an ed25519 key; *keypair.Keypair and
	// ed25519.PrivateKey are). Without one, the client only uses Token.
	Signer crypto.Signer
	// Job, when set, makes every sign-in job-scoped (SPEC §2): the token
	// reads the secrets that job grants.
	Job string
	// Legacy signs the legacy "nosana_secret_<unix>" challenge instead of a
	// Sign-In With Solana message, for servers that predate it. Such a
	// signature can be replayed at any server for a minute, so use it only
	// with servers that need it.
	Legacy bool
	// Token is a token to start with (e.g. from a cache).
	Token string
	// OnLogin is called with each token a sign-in obtains, e.g. to cache it.
	OnLogin func(*Token)
	// Now is the clock of sign-in messages; nil means time.Now.
	Now func() time.Time
}

// Client talks to one server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	endpoint  string // base without a trailing slash
	http      *http.Client
	userAgent string
	signer    crypto.Signer
	address   string
	job       string
	legacy    bool
	onLogin   func(*Token)
	now       func() time.Time

	mu    sync.Mutex
	token string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	endpoint := strings.TrimSpace(cfg.Endpoint)
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      u,
		endpoint:  strings.TrimSuffix(u.String(), "/"),
		http:      cfg.HTTPClient,
		userAgent: cfg.UserAgent,
		signer:    cfg.Signer,
		job:       cfg.Job,
		legacy:    cfg.Legacy,
		onLogin:   cfg.OnLogin,
		now:       cfg.Now,
		token:     cfg.Token,
	}
	if c.http == nil {
		c.http = NewHTTPClient(cfg.Timeout)
	}
	if c.userAgent == "" {
		c.userAgent = UserAgent()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.signer != nil {
		if c.address, err = addressOf(c.signer); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ParseEndpoint checks that s is an http(s) URL with a host and no query,
// and drops a trailing slash.
func ParseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL like http://localhost:4124", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("endpoint %q must not carry a query, fragment or credentials", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// UserAgent is "nosana-secrets/<version>".
func UserAgent() string {
	v, _, _ := buildinfo.Info()
	return "nosana-secrets/" + v
}

// NewHTTPClient returns the http.Client a Client uses by default: bounded
// dialling, TLS handshake, header wait and whole request.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Endpoint is the server's base URL without a trailing slash.
func (c *Client) Endpoint() string { return c.endpoint }

// Address is the signer's address ("" without a signer).
func (c *Client) Address() string { return c.address }

// Token is the raw token in use ("" before any sign-in).
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// SetToken makes the client use raw for later requests.
func (c *Client) SetToken(raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = raw
}

// Secrets maps keys to their stored JSON values.
type Secrets map[string]json.RawMessage

// List returns the caller's secrets whose keys start with prefix ("" for
// all). With a job token it returns the granted secrets that exist.
func (c *Client) List(ctx context.Context, prefix string) (Secrets, error) {
	path := "/secrets"
	if prefix != "" {
		path += "?" + url.Values{"prefix": {prefix}}.Encode()
	}
	body, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	var out Secrets
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, c.badAnswer(http.MethodGet, "/secrets", "a JSON object of secrets")
	}
	if out == nil {
		out = Secrets{}
	}
	return out, nil
}

// Get returns the stored JSON value of key. A missing key is an *HTTPError
// for which IsNotFound is true.
func (c *Client) Get(ctx context.Context, key string) (json.RawMessage, error) {
	if key == "" {
		return nil, errors.New("secret key must not be empty")
	}
	body, err := c.do(ctx, http.MethodGet, "/secrets/"+escapeKey(key), nil)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, c.badAnswer(http.MethodGet, "/secrets/:key", "a JSON value")
	}
	return json.RawMessage(body), nil
}

// GetString returns a string secret; a value of another JSON type is an error.
func (c *Client) GetString(ctx context.Context, key string) (string, error) {
	raw, err := c.Get(ctx, key)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("secret %s is not a string", key)
	}
	return s, nil
}

// Set stores secrets in the caller's namespace, each under prefix+key, in
// one request; existing keys are overwritten. Values must be valid JSON.
func (c *Client) Set(ctx context.Context, secrets Secrets, prefix string) error {
	for k, v := range secrets {
		if !json.Valid(v) {
			return fmt.Errorf("value of %s is not valid JSON", prefix+k)
		}
	}
	body := struct {
		Secrets Secrets `json:"secrets"`
		Prefix  string  `json:"prefix,omitempty"`
	}{secrets, prefix}
	if body.Secrets == nil {
		body.Secrets = Secrets{}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, "/secrets", b)
	return err
}

// SetStrings stores string values; see Set.
func (c *Client) SetStrings(ctx context.Context, secrets map[string]string, prefix string) error {
	m := make(Secrets, len(secrets))
	for k, v := range secrets {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m[k] = b
	}
	return c.Set(ctx, m, prefix)
}

// Delete removes keys from the caller's namespace; absent keys are not an
// error.
func (c *Client) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return errors.New("no keys to delete")
	}
	b, err := json.Marshal(map[string][]string{"key": keys})
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, "/secrets", b)
	return err
}

// escapeKey makes key one path segment: "a/b" is sent as "a%2Fb", and the
// dot segments "." and ".." are escaped so nothing resolves them.
func escapeKey(key string) string {
	switch key {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(key)
}

// do sends an authenticated request: it signs in first when there is no
// token and a signer, and signs in again once after a 403.
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	token := c.Token()
	fresh := false
	if token == "" && c.signer != nil {
		tok, err := c.Login(ctx)
		if err != nil {
			return nil, err
		}
		token, fresh = tok.Raw, true
	}
	out, err := c.send(ctx, method, path, body, token)
	if err != nil && !fresh && c.signer != nil && isStatus(err, http.StatusForbidden) {
		tok, lerr := c.Login(ctx)
		if lerr != nil {
			return nil, lerr
		}
		out, err = c.send(ctx, method, path, body, tok.Raw)
	}
	return out, err
}

// send makes one request and reads the answer; an error status becomes an
// *HTTPError, a transport failure a *NetworkError.
func (c *Client) send(ctx context.Context, method, path string, body []byte, token string) ([]byte, error) {
	u := c.endpoint + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.networkError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, c.networkError(err)
	}
	if len(b) > maxResponse {
		return nil, c.badAnswer(method, path, "an answer under 64 MiB")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newHTTPError(resp, b)
	}
	return b, nil
}

func (c *Client) networkError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &NetworkError{Endpoint: c.endpoint, Err: err}
}

func (c *Client) badAnswer(method, path, want string) error {
	return &NetworkError{Endpoint: c.endpoint, Err: fmt.Errorf("%s %s did not answer %s; is %s a nosana-secrets server?", method, path, want, c.endpoint)}
}
