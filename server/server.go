// Package server is the HTTP secret manager: the legacy REST API of SPEC §2
// over a storage.Store, with health probes and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/internal/deadline"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/ratelimit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// DefaultBodyLimit is the largest request body accepted (SPEC §2).
const DefaultBodyLimit = 1 << 20

// Store is what the server needs of storage: the whole storage.Backend
// contract (secrets, nonces and counters, history, audit logs, quotas, a
// ping for /readyz). Values are plaintext here: sealing is a layer inside
// it (see stack.Open).
type Store = storage.Backend

// Options configure a Server. Store and Tokens are required.
type Options struct {
	Store       Store
	Tokens      *auth.Tokens
	Logger      *slog.Logger
	LoginWindow time.Duration // accepted skew of a legacy timestamp; default 60 s
	BodyLimit   int64         // default DefaultBodyLimit
	Now         func() time.Time

	// Audiences are the public URLs a Sign-In With Solana message may
	// name; without any, message sign-in is refused.
	Audiences []auth.Audience
	// DisableLegacyLogin refuses the nosana_secret_<unix> challenge.
	DisableLegacyLogin bool
	// Jobs checks job-scoped logins; nil refuses them.
	Jobs *jobs.Verifier
	// Limits are the rate limits; nil means none.
	Limits *Limits
	// PrivateMetrics leaves /metrics off Handler; serve it with
	// ServeMetrics on a listener of its own.
	PrivateMetrics bool
	// IPExtractor finds the client IP (rate limits, logs); nil means the
	// connection's remote address, ignoring X-Forwarded-For.
	IPExtractor echo.IPExtractor
	// Console serves the web console at /ui/.
	Console bool
	// History sets versions and the audit trail (v1_history.go).
	History HistoryOptions
	// Quota is the per-owner limit the store enforces (see
	// stack.Options), shown by GET /v1/whoami.
	Quota storage.Quota
	// JobDefinitions sets the node routes of confidential job
	// definitions (v1_jobdef.go).
	JobDefinitions JobDefinitionOptions
	// OIDC verifies the tokens of the issuers trusts may name; nil accepts
	// none. A trust without an audience expects one of OIDCAudiences
	// (nil: the URIs of Audiences).
	OIDC          *oidcauth.Verifier
	OIDCAudiences []string
}

// Limits are requests allowed per window of Limiter, by client IP and by
// address, on /login and on /secrets*. Zero turns one off.
type Limits struct {
	Limiter                   *ratelimit.Limiter
	LoginIP, LoginAddress     int64
	SecretsIP, SecretsAddress int64
}

// Server serves the API. Create it with New.
type Server struct {
	store       Store
	tokens      *auth.Tokens
	log         *slog.Logger
	loginWindow time.Duration
	bodyLimit   int64
	now         func() time.Time
	audiences   []auth.Audience
	legacyOff   bool
	jobs        *jobs.Verifier
	limits      Limits
	metrics     *metrics
	console     bool
	quota       storage.Quota
	jobDefs     JobDefinitionOptions
	runs        runCache
	// privateMetrics: /metrics is served by ServeMetrics only.
	privateMetrics bool
	echo           *echo.Echo
	access         accessState
	oidc           *oidcauth.Verifier
	oidcAudiences  []string
	// routeNames are the registered route paths: the only route labels.
	routeNames map[string]bool
	v1State
}

// New builds the handlers; it does not listen.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Tokens == nil {
		return nil, errors.New("server: Store and Tokens are required")
	}
	s := &Server{
		store:       o.Store,
		tokens:      o.Tokens,
		log:         o.Logger,
		loginWindow: o.LoginWindow,
		bodyLimit:   o.BodyLimit,
		now:         o.Now,
		audiences:   o.Audiences,
		legacyOff:   o.DisableLegacyLogin,
		quota:       o.Quota,
		jobDefs:     o.JobDefinitions,
		jobs:        o.Jobs,
		metrics:     newMetrics(),
		console:     o.Console,
		oidc:        o.OIDC,

		oidcAudiences: o.OIDCAudiences,

		privateMetrics: o.PrivateMetrics,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.loginWindow <= 0 {
		s.loginWindow = 60 * time.Second
	}
	if s.bodyLimit <= 0 {
		s.bodyLimit = DefaultBodyLimit
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.jobDefs.Fetches <= 0 {
		s.jobDefs.Fetches = DefaultJobDefinitionFetches
	}
	if s.jobDefs.ResultWindow <= 0 {
		s.jobDefs.ResultWindow = DefaultJobResultWindow
	}
	if o.Limits != nil && o.Limits.Limiter != nil {
		s.limits = *o.Limits
	}
	s.initV1(o.History)
	s.initAccess()
	if s.oidcAudiences == nil {
		for _, a := range s.audiences {
			s.oidcAudiences = append(s.oidcAudiences, a.URI)
		}
	}
	var err error
	if s.echo, err = s.routes(o.IPExtractor); err != nil {
		return nil, err
	}
	s.routeNames = map[string]bool{}
	for _, r := range s.echo.Routes() {
		s.routeNames[r.Path] = true
	}
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) routes(ip echo.IPExtractor) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(discard{})
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ip
	if ip == nil {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.Use(prebuilt(s.recoverPanics, secureHeaders, assignRequestID, s.logRequests, cors, s.limitBody, s.authenticate))

	e.GET("/", s.welcome)
	e.GET("/health", s.health)
	e.GET("/livez", s.livez)
	e.GET("/readyz", s.readyz)
	if !s.privateMetrics {
		e.GET("/metrics", s.metrics.handler())
	}
	e.POST("/login", with(s.login, s.limitIP(s.limits.LoginIP, "login")))

	secrets := []echo.MiddlewareFunc{s.limitIP(s.limits.SecretsIP, "secrets"), requireAuth, s.limitAddress}
	e.GET("/secrets", with(s.listSecrets, secrets...))
	e.GET("/secrets/", with(s.listSecrets, secrets...))
	e.GET("/secrets/:key", with(s.getSecret, secrets...))
	e.POST("/secrets", with(s.setSecrets, secrets...))
	e.DELETE("/secrets", with(s.deleteSecrets, secrets...))
	e.GET("/v1/secrets", with(s.listKeys, secrets...))
	s.v1Routes(e, secrets)
	s.tokenRoutes(e, secrets)
	return e, s.routeConsole(e)
}

// with applies route middleware m to h once, at registration, in echo's
// order (m[0] outermost): echo itself would wrap h again on every request,
// one closure per middleware.
func with(h echo.HandlerFunc, m ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}

// prebuilt is the global middleware m as one middleware built once: echo
// applies e.Use's middleware to the matched route's handler on every
// request, allocating a closure for each. The chain built here ends by
// calling the handler the router matched (c.Handler(), which is what echo
// passes as next), so it behaves the same.
func prebuilt(m ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := with(func(c echo.Context) error { return c.Handler()(c) }, m...)
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Serve answers on ln until ctx is done, then stops accepting, lets requests
// in flight finish (up to grace), and returns. It does not close the store.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// The four timeouts above are enforced by one ticker a second: net/http
	// moves a connection's deadlines six times a request, and each move of a
	// runtime timer cost ~5% of a GET's CPU. They fire up to a second late.
	ln = deadline.NewListener(ln, time.Second)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	defer s.FlushAudit(context.Background())
	go s.purgeHistory(ctx)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing requests in flight", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeMetrics answers GET /metrics on ln until ctx is done.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.httpHandler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	_ = srv.Close()
	<-errc
	return nil
}
