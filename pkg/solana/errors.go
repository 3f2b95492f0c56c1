package solana

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of a lookup, to be matched with errors.Is. ErrNotFound and
// ErrInvalidAccount are the caller's fault (they named an address that is not
// a job of the jobs program, or a job nobody claimed); ErrUnavailable is ours
// or the RPC node's (unreachable, timed out, HTTP 5xx, JSON-RPC error).
var (
	ErrNotFound       = errors.New("account not found")
	ErrInvalidAccount = errors.New("invalid account")
	ErrUnavailable    = errors.New("solana RPC unavailable")
)

// maxRPCMessage caps how much of an RPC node's own error text we repeat.
const maxRPCMessage = 200

// unavailableError wraps ErrUnavailable and the cause, with a message that
// never contains the RPC URL (it may carry an API key).
type unavailableError struct {
	msg   string
	cause error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// unavailable describes a failed RPC call for the job (or run lookup) named
// by what.
func (c *Client) unavailable(what, method string, timeout time.Duration, err error) error {
	return &unavailableError{
		msg:   fmt.Sprintf("%s: %s: %s (%s): %s", what, ErrUnavailable, method, c.host, c.describe(err, timeout)),
		cause: err,
	}
}

// describe says why an RPC call failed without repeating the endpoint URL.
func (c *Client) describe(err error, timeout time.Duration) string {
	var httpErr *httpError
	var rpcErr *rpcError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.Is(err, context.Canceled):
		return "request canceled"
	case errors.As(err, &httpErr):
		return fmt.Sprintf("HTTP status %d", httpErr.Code)
	case errors.As(err, &rpcErr):
		return fmt.Sprintf("JSON-RPC error %d: %s", rpcErr.Code, truncate(rpcErr.Message, maxRPCMessage))
	case errors.As(err, &urlErr):
		if urlErr.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		return c.redact(urlErr.Err.Error())
	}
	return c.redact(err.Error())
}

// redact removes the endpoint URL from an error text.
func (c *Client) redact(s string) string {
	if c.endpoint != "" {
		s = strings.ReplaceAll(s, c.endpoint, c.host)
	}
	return truncate(s, 2*maxRPCMessage)
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
