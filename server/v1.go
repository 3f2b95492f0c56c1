package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// v1Routes adds the versioned API (issue 11) beside the legacy routes;
// authed are the middlewares of the legacy /secrets routes (rate limits,
// a token required).
func (s *Server) v1Routes(e *echo.Echo, authed []echo.MiddlewareFunc) {
	e.GET("/v1/openapi.json", s.openAPI)
	e.GET("/v1/whoami", with(s.whoami, authed...))
	e.GET("/v1/audit/key", s.auditKeyV1())
	s.historyRoutes(e, authed)
	s.jobDefinitionRoutes(e, authed)
}

// whoamiBody is the answer of GET /v1/whoami.
type whoamiBody struct {
	Address   string    `json:"address"`
	Scope     string    `json:"scope"` // "owner" or "job"
	Namespace string    `json:"namespace"`
	Job       string    `json:"job,omitempty"`
	Keys      []string  `json:"keys,omitzero"` // a job token's grants, [] when none
	ExpiresAt time.Time `json:"expires_at"`
	// Token is an access token's scope (scope "token").
	Token *tokenScope `json:"token,omitempty"`
	// Owner tokens on a store that counts quotas: use and limits.
	Usage *amount `json:"usage,omitempty"`
	Quota *amount `json:"quota,omitempty"`
}

type tokenScope struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Prefix  string `json:"prefix"`
	Write   bool   `json:"write"`
	Trust   string `json:"trust,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// amount is a count of keys and of bytes.
type amount struct {
	Secrets    int64 `json:"secrets"`
	Bytes      int64 `json:"bytes"`
	AuditBytes int64 `json:"audit_bytes"`
}

// whoami describes the caller's token. It reads no secret, so a running
// job's token is not re-checked against the chain here.
func (s *Server) whoami(c echo.Context) error {
	cl := claimsOf(c)
	b := whoamiBody{Address: cl.Address, Scope: "owner", Namespace: cl.ReadNamespace()}
	if cl.ExpiresAt != nil {
		b.ExpiresAt = cl.ExpiresAt.UTC()
	}
	if a := cl.Access; a != nil {
		b.Scope = "token"
		b.Token = &tokenScope{ID: a.ID, Name: a.Name, Prefix: a.Prefix, Write: a.Write, Trust: a.Trust, Subject: a.Subject}
	} else if cl.Scoped() {
		b.Scope, b.Job = "job", cl.Job
		b.Keys = append([]string{}, cl.Secrets...)
	} else {
		u, err := s.store.Usage(c.Request().Context(), b.Namespace)
		if err != nil {
			return err
		}
		b.Usage = &amount{u.Secrets, u.Bytes, u.AuditBytes}
		b.Quota = &amount{s.quota.Secrets, s.quota.Bytes, s.quota.AuditBytes}
	}
	return c.JSON(http.StatusOK, b)
}
