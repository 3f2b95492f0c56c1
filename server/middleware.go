package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/internal/jsonlog"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// reqCtx is the echo.Context every middleware and handler after
// recoverPanics gets: the request's id, claims and logged error are its
// fields. echo's own c.Set would make a map each request, and each c.Get
// is a map lookup.
type reqCtx struct {
	echo.Context
	s      *Server
	id     string
	claims *auth.Claims
	logErr error
}

// Error answers err through the server's error handler with this context
// (the embedded one's Error would pass echo's own, without the fields).
func (r *reqCtx) Error(err error) { r.s.handleError(err, r) }

// JSONBlob is echo's, with the Content-Type set from a shared slice when
// none is: echo would make a new one-element slice for every answer.
func (r *reqCtx) JSONBlob(code int, b []byte) error {
	if h := r.Response().Header(); h.Get(echo.HeaderContentType) == "" {
		h[echo.HeaderContentType] = jsonType // shared, as in secureHeaders
	}
	return r.Context.JSONBlob(code, b)
}

var jsonType = []string{echo.MIMEApplicationJSON}

// reqOf is c's reqCtx. Every route's chain starts with recoverPanics, so
// there always is one; a bare echo.Context (none reaches here) gets an
// empty one, whose fields nothing reads.
func reqOf(c echo.Context) *reqCtx {
	if rc, ok := c.(*reqCtx); ok {
		return rc
	}
	return &reqCtx{Context: c}
}

// recoverPanics turns a panic into a 500 without a stack trace in the answer;
// the log gets the panic's type and request id only, since a panic value
// could hold request data. It is outermost: it makes the reqCtx the rest
// of the chain gets, and answers the errors that come back to it.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rc := &reqCtx{Context: c, s: s}
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic while serving a request", "request_id", rc.id, "route", c.Path())
				s.handleError(errInternal, rc)
			}
		}()
		if err := next(rc); err != nil {
			s.handleError(err, rc)
		}
		return nil
	}
}

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// assignRequestID keeps a caller's X-Request-Id when it is short and plain,
// otherwise makes one, and echoes it in the answer.
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !plainID(id) {
			id = idPrefix + "-" + strconv.FormatUint(idCounter.Add(1), 36)
		}
		reqOf(c).id = id
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

func requestID(c echo.Context) string { return reqOf(c).id }

// setLogError names err in the request's log line.
func setLogError(c echo.Context, err error) { reqOf(c).logErr = err }

// logRequests writes one structured line per request. It logs the route,
// never the body, the Authorization header or the query string's values.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		res := c.Response()
		route := c.Path()
		if !s.routeNames[route] {
			route = "unmatched"
		}
		end := time.Now()
		s.metrics.observe(route, methodLabel(c.Request().Method), res.Status, end.Sub(start))
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case res.Status >= 400:
			level = slog.LevelWarn
		}
		ctx := c.Request().Context()
		h := s.log.Handler()
		if !h.Enabled(ctx, level) {
			return nil
		}
		var buf [10]slog.Attr // on the stack: jsonlog keeps none of them
		attrs := append(buf[:0],
			slog.String("request_id", requestID(c)),
			slog.String("method", truncate(c.Request().Method, maxLoggedMethod)),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Float64("duration_ms", float64(end.Sub(start).Microseconds())/1000),
			slog.String("ip", c.RealIP()),
		)
		if cl := claimsOf(c); cl != nil {
			attrs = append(attrs, slog.String("address", cl.Address))
			if cl.Access != nil {
				attrs = append(attrs, slog.String("token_id", cl.Access.ID))
			}
		}
		if e := reqOf(c).logErr; e != nil {
			attrs = append(attrs, slog.String("error", e.Error()))
		}
		// The line goes to the handler itself: Logger.LogAttrs would walk
		// the stack for a source position no handler here shows, and a
		// Record allocates past five attributes.
		if jh, ok := h.(*jsonlog.Handler); ok {
			_ = jh.HandleAttrs(ctx, end, level, "request", attrs)
			return nil
		}
		r := slog.NewRecord(end, level, "request", 0)
		r.AddAttrs(attrs...)
		_ = h.Handle(ctx, r)
		return nil
	}
}

// secureHeaders marks every answer nosniff, and every /login, /secrets*, /v1/secrets*
// and /v1/secret* (the key in the query)
// answer (errors included) no-store: tokens and secrets must not land in a
// browser's or proxy's cache.
func secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Assigned, not Set: the shared one-element slices cost no
		// allocation per answer, and an Add to them copies.
		h := c.Response().Header()
		h[echo.HeaderXContentTypeOptions] = nosniff
		if p := c.Request().URL.Path; p == "/login" || strings.HasPrefix(p, "/secrets") || strings.HasPrefix(p, "/v1/secret") {
			h[echo.HeaderCacheControl] = noStore
		}
		return next(c)
	}
}

var nosniff, noStore, varyOrigin = []string{"nosniff"}, []string{"no-store"}, []string{echo.HeaderOrigin}

// maxLoggedMethod is how much of a request method a log line shows.
const maxLoggedMethod = 16

// truncate cuts s to at most n bytes, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// cors answers every origin (SPEC §2): the request Origin is echoed, with
// Vary: Origin, and a preflight is answered 204 here.
func cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		h := c.Response().Header()
		if _, ok := h[echo.HeaderVary]; ok {
			h.Add(echo.HeaderVary, echo.HeaderOrigin)
		} else {
			h[echo.HeaderVary] = varyOrigin // shared, as in secureHeaders
		}
		origin := req.Header.Get(echo.HeaderOrigin)
		if origin == "" {
			return next(c)
		}
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
		h.Set(echo.HeaderAccessControlExposeHeaders, "Retry-After, X-Request-Id, "+HeaderUnreadable)
		if req.Method != http.MethodOptions || req.Header.Get(echo.HeaderAccessControlRequestMethod) == "" {
			return next(c)
		}
		h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
		h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
		h.Set(echo.HeaderAccessControlAllowMethods, "GET, HEAD, POST, PUT, DELETE, OPTIONS")
		if rh := req.Header.Get(echo.HeaderAccessControlRequestHeaders); rh != "" {
			h.Set(echo.HeaderAccessControlAllowHeaders, rh)
		}
		h.Set(echo.HeaderAccessControlMaxAge, "600")
		return c.NoContent(http.StatusNoContent)
	}
}

// limitBody answers 413 for a declared length over the limit and caps what a
// handler can read of an undeclared one.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.bodyLimit {
			return tooLarge(s.bodyLimit)
		}
		if req.Body != http.NoBody { // net/http's body of a request without one
			req.Body = http.MaxBytesReader(c.Response(), req.Body, s.bodyLimit)
		}
		return next(c)
	}
}

// readErr maps a body read error: over the limit is 413, anything else 400.
func (s *Server) readErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(s.bodyLimit)
	}
	return badRequest("could not read the request body")
}

// authenticate verifies a token when one is sent: raw or with the Bearer
// scheme. A present but invalid token is 403 on every route (SPEC §2).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if h == "" || nodeRoute(c.Path()) {
			// The node routes check today's node's J:S:T header themselves.
			return next(c)
		}
		tok := strings.TrimSpace(h)
		if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
			tok = strings.TrimSpace(tok[7:])
		}
		var cl *auth.Claims
		var err error
		if auth.IsAccessToken(tok) {
			cl, err = s.verifyAccess(c, tok)
		} else {
			cl, err = s.verifyToken(c, tok)
		}
		if err != nil {
			return err
		}
		reqOf(c).claims = cl
		return next(c)
	}
}

// verifyToken checks a token's signature and expiry.
func (s *Server) verifyToken(c echo.Context, tok string) (*auth.Claims, error) {
	cl, err := s.tokens.Verify(tok)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": ")
		if errors.Is(err, auth.ErrTokenExpired) {
			return nil, forbidden(msg).withCode(errcode.TokenExpired)
		}
		return nil, forbidden(msg)
	}
	return cl, nil
}

// requireAuth refuses a request that carries no token, and an access
// token on a route that is not one of accessRoutes.
func requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cl := claimsOf(c)
		if cl == nil {
			return forbidden("Not authenticated").withCode(errcode.NotAuthenticated)
		}
		if cl.Access != nil {
			if err := ownerOnlyAccess(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func claimsOf(c echo.Context) *auth.Claims { return reqOf(c).claims }
