package server

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// tooMany is a 429 that says when to come back.
func tooMany(what string, retry time.Duration) *apiError {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &apiError{Status: http.StatusTooManyRequests, Type: "TooManyRequestsError",
		Msg: fmt.Sprintf("too many %s; try again in %d s", what, secs), RetryAfter: secs}
}

// limited reports whether a limit of limit is on.
func (s *Server) limited(limit int64) bool { return limit > 0 && s.limits.Limiter != nil }

// allow counts one request of key against limit.
func (s *Server) allow(c echo.Context, key string, limit int64, what string) error {
	if !s.limited(limit) {
		return nil
	}
	ok, retry, err := s.limits.Limiter.Allow(c.Request().Context(), key, limit)
	switch {
	case errors.Is(err, storage.ErrTimeout):
		// The store hangs: the request could not be served anyway.
		return unavailable("storage did not answer in time; try again", err)
	case err != nil:
		// A failing store must not take the service down with the limits.
		s.log.WarnContext(c.Request().Context(), "rate limit counter unavailable; allowing the request",
			"request_id", requestID(c), "error", err.Error())
	case !ok:
		return tooMany(what, retry)
	}
	return nil
}

// limitIP limits requests per client IP on a route family.
func (s *Server) limitIP(limit int64, family string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !s.limited(limit) {
				return next(c) // no key to build: a string a request
			}
			if err := s.allow(c, family+":ip:"+clientNet(c.RealIP()), limit, "requests from this address"); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// limitAddress limits /secrets requests per authenticated address.
func (s *Server) limitAddress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.limited(s.limits.SecretsAddress) {
			return next(c)
		}
		if err := s.allow(c, "secrets:addr:"+claimsOf(c).Address, s.limits.SecretsAddress, "requests for this wallet"); err != nil {
			return err
		}
		return next(c)
	}
}

// clientNet is what one client is counted as: its IPv4 address, or its
// IPv6 /64 — one host usually holds a whole /64, and counting each of its
// addresses apart would let it spread over 2^64 counters.
func clientNet(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}
