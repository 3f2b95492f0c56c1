package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPError is an answer with an error status. Type, Message and Code come
// from the server's JSON error body (SPEC §2); for a body that is not one
// (a proxy's page, another service), Type is "" and Message the status text.
type HTTPError struct {
	Status  int
	Type    string
	Message string
	// Code is the stable error code (package errcode: "not_found",
	// "key_not_granted"…) that programs switch on; "" from servers older
	// than the codes, such as the original Nosana secret manager.
	Code string
	// RetryAfter is the server's Retry-After on a 429 or 503 (0 if none).
	RetryAfter time.Duration
	// URL is what was asked, without user info or query.
	URL  string
	body []byte // the answer, for the v1 fields (v1.go)
}

// FromAPI reports whether the body was an error of the API (it had a
// type); false means something else answered: a proxy or another service.
func (e *HTTPError) FromAPI() bool { return e.Type != "" }

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, msg)
}

// maxMessage bounds the server message kept in an HTTPError.
const maxMessage = 300

func newHTTPError(resp *http.Response, body []byte) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode, body: body}
	if resp.Request != nil && resp.Request.URL != nil {
		u := *resp.Request.URL
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		e.URL = u.String()
	}
	var eb struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Error   string `json:"error"`
		Code    string `json:"code"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Type = oneLine(eb.Type)
		e.Code = oneLine(eb.Code)
		e.Message = eb.Message
		if e.Message == "" {
			e.Message = eb.Error
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = oneLine(e.Message)
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// oneLine keeps a server message to one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return s
}

// NetworkError is a request that got no usable answer: the server could not
// be reached, did not answer in time, or answered something that is not
// the API.
type NetworkError struct {
	Endpoint string
	Err      error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.Endpoint, describeNetErr(e.Err))
}

func (e *NetworkError) Unwrap() error { return e.Err }

// Timeout reports whether the request ran out of time.
func (e *NetworkError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &ne) && ne.Timeout()
}

func describeNetErr(err error) string {
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &oe) && oe.Op == "dial":
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return "unknown host " + dnsErr.Name
		}
		if oe.Err != nil {
			return "connection failed (" + unwrapSyscall(oe.Err) + ")"
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	return err.Error()
}

func unwrapSyscall(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// LoginError is a failed sign-in: an *HTTPError when the server refused it,
// a *NetworkError when it could not be asked, or a local signing failure.
type LoginError struct {
	Endpoint string
	Job      string
	// Legacy is set when the legacy challenge was signed (Config.Legacy).
	Legacy bool
	Err    error
}

func (e *LoginError) Error() string {
	what := "sign-in"
	if e.Job != "" {
		what = "job sign-in for " + e.Job
	}
	var he *HTTPError
	if errors.As(e.Err, &he) {
		return fmt.Sprintf("%s at %s refused (%d): %s", what, e.Endpoint, he.Status, he.Message)
	}
	return fmt.Sprintf("%s failed: %v", what, e.Err)
}

func (e *LoginError) Unwrap() error { return e.Err }

func isStatus(err error, status int) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == status
}

// IsNotFound reports whether err is a 404 answer (a missing secret).
func IsNotFound(err error) bool { return isStatus(err, http.StatusNotFound) }

// IsForbidden reports whether err is a 403 answer (no, bad or expired
// token, or a write with a read-only token).
func IsForbidden(err error) bool { return isStatus(err, http.StatusForbidden) }

// IsNetwork reports whether err is a *NetworkError.
func IsNetwork(err error) bool {
	var ne *NetworkError
	return errors.As(err, &ne)
}
