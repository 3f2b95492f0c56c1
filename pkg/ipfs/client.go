package ipfs

import (
	"context"
	"errors"
	"fmt"
	lru "github.com/hashicorp/golang-lru/v2"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mr-tron/base58"
	"golang.org/x/sync/singleflight"

	"github.com/nosana-ci/nosana-secrets/internal/httpx"
)

// Defaults of Config.
const (
	DefaultGateway   = "https://nosana.mypinata.cloud/ipfs"
	DefaultTimeout   = 5 * time.Second
	DefaultMaxSize   = 1 << 20
	DefaultCacheSize = 1024
)

// Errors of Fetch, to be matched with errors.Is. ErrNotFound and
// ErrInvalidDocument are the job poster's fault (the document is missing or
// is not a JSON object under the size cap); ErrUnavailable is the gateway's.
// ErrUnverified, a kind of ErrInvalidDocument, is a gateway's answer that is
// not the document its CID names.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidDocument = errors.New("invalid document")
	ErrUnavailable     = errors.New("gateway unavailable")
	ErrUnverified      = fmt.Errorf("%w: the gateway's answer does not match the digest on chain", ErrInvalidDocument)
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// Gateway is the base URL; the document is GET <Gateway>/<cid>. A
	// trailing slash and a query (an access token) are kept in place.
	Gateway string
	// Timeout bounds one fetch, body included.
	Timeout time.Duration
	// MaxSize is the largest document accepted, in bytes.
	MaxSize int64
	// CacheSize is how many documents are kept; negative disables the cache.
	CacheSize int
	// HTTPClient sends the requests; nil means a client of our own.
	HTTPClient *http.Client
	// SkipVerify accepts whatever the gateway answers instead of checking
	// it against its CID (IPFS_VERIFY=false). Only for a gateway that is
	// trusted and serves documents in a layout FileDigest does not rebuild.
	SkipVerify bool
}

// Client fetches documents from a gateway. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	host    string
	http    *http.Client
	timeout time.Duration
	maxSize int64
	verify  bool
	cache   *lru.Cache[string, Document] // nil when disabled
	group   singleflight.Group
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	gw := strings.TrimSpace(cfg.Gateway)
	if gw == "" {
		gw = DefaultGateway
	}
	u, err := url.Parse(gw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid IPFS gateway URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid IPFS gateway URL: scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("invalid IPFS gateway URL: no host")
	}
	u.Fragment, u.RawFragment = "", ""
	c := &Client{
		base:    u,
		host:    u.Scheme + "://" + u.Host,
		http:    cfg.HTTPClient,
		timeout: cfg.Timeout,
		maxSize: cfg.MaxSize,
		verify:  !cfg.SkipVerify,
	}
	if c.http == nil {
		c.http = &http.Client{Transport: httpx.NewTransport()}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxSize <= 0 {
		c.maxSize = DefaultMaxSize
	}
	switch n := cfg.CacheSize; {
	case n == 0:
		c.cache, _ = lru.New[string, Document](DefaultCacheSize)
	case n > 0:
		c.cache, _ = lru.New[string, Document](n) // n > 0: no error
	}
	return c, nil
}

// Gateway returns the base URL without its query, for logs.
func (c *Client) Gateway() string {
	u := *c.base
	u.RawQuery, u.User = "", nil
	return u.String()
}

// Fetch returns the JSON object stored under cid, a CIDv0, once its bytes
// are checked to be the file cid names (see FileDigest). Documents fetched
// before come from the cache, which holds only checked ones; concurrent
// fetches of one CID share one request, which runs to its own timeout even
// if the caller that started it leaves.
func (c *Client) Fetch(ctx context.Context, cid string) (Document, error) {
	if !validCID(cid) {
		return nil, fmt.Errorf("%w: %q is not a CID", ErrInvalidDocument, cid)
	}
	want, ok := digestOf(cid)
	if c.verify && !ok {
		return nil, fmt.Errorf("%w: %s is not a CIDv0, the only form a job account names", ErrInvalidDocument, cid)
	}
	if c.cache != nil {
		if doc, ok := c.cache.Get(cid); ok {
			return doc, nil
		}
	}
	ch := c.group.DoChan(cid, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		doc, err := c.fetch(fctx, cid, want)
		if err == nil && c.cache != nil {
			c.cache.Add(cid, doc)
		}
		return doc, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(Document), nil
	case <-ctx.Done():
		return nil, &unavailableError{
			msg:   fmt.Sprintf("IPFS document %s: %s (%s): gave up waiting: %v", cid, ErrUnavailable, c.host, ctx.Err()),
			cause: ctx.Err(),
		}
	}
}

func (c *Client) fetch(ctx context.Context, cid string, want [32]byte) (Document, error) {
	u := c.base.JoinPath(cid)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, c.unavailable(cid, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unavailable(cid, err)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return nil, c.unavailable(cid, fmt.Errorf("HTTP status %d", code))
	case code >= 400 && code < 500:
		return nil, fmt.Errorf("IPFS document %s: %w (gateway answered HTTP %d)", cid, ErrNotFound, code)
	default:
		return nil, c.unavailable(cid, fmt.Errorf("HTTP status %d", code))
	}
	if resp.ContentLength > c.maxSize {
		return nil, c.tooLarge(cid)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxSize+1))
	if err != nil {
		return nil, c.unavailable(cid, err)
	}
	if int64(len(body)) > c.maxSize {
		return nil, c.tooLarge(cid)
	}
	if c.verify {
		if got := FileDigest(body); got != want {
			return nil, fmt.Errorf("IPFS document %s: %w (it served %d bytes whose CID is %s)", cid, ErrUnverified, len(body), CID(got))
		}
	}
	doc, err := ParseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("IPFS document %s: %w", cid, err)
	}
	return doc, nil
}

func (c *Client) tooLarge(cid string) error {
	return fmt.Errorf("IPFS document %s: %w: larger than %s", cid, ErrInvalidDocument, size(c.maxSize))
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// digestOf returns the sha256 digest a CIDv0 holds.
func digestOf(cid string) ([32]byte, bool) {
	b, err := base58.Decode(cid)
	if err != nil || len(b) != 34 || b[0] != 0x12 || b[1] != 0x20 {
		return [32]byte{}, false
	}
	return [32]byte(b[2:]), true
}

// validCID accepts the characters of base58 and base32 CIDs, so a CID can
// never change the path it is joined to.
func validCID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

type unavailableError struct {
	msg   string
	cause error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// unavailable describes a failed fetch without the gateway URL's path or
// query, which may carry an access token.
func (c *Client) unavailable(cid string, err error) error {
	var why string
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("no answer within %s", c.timeout)
	case errors.Is(err, context.Canceled):
		why = "request canceled"
	case errors.As(err, &ue):
		if ue.Timeout() {
			why = fmt.Sprintf("no answer within %s", c.timeout)
		} else {
			why = ue.Err.Error()
		}
	default:
		why = err.Error()
	}
	return &unavailableError{
		msg:   fmt.Sprintf("IPFS document %s: %s (%s): %s", cid, ErrUnavailable, c.host, why),
		cause: err,
	}
}
