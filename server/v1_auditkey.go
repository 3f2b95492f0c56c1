package server

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// auditKeyer is a store that signs the heads of audit logs (the seal
// layer): it publishes the public halves of its signing keys.
type auditKeyer interface {
	AuditKeys() []audit.PublicKey
}

// auditKeysBody is the answer of GET /v1/audit/key.
type auditKeysBody struct {
	Keys []audit.PublicKey `json:"keys"` // the active key first
}

// auditKeyV1 is the handler of GET /v1/audit/key: the public audit signing
// keys, so that a client checks the signatures of the audit log without
// trusting the store (audit.VerifySigned). It needs no token: the keys are
// public, and an auditor or a monitor may pin them before anyone signs in
// (a present but invalid token is refused, as on every route). The answer
// is derived once: the keyring does not change while the process runs.
func (s *Server) auditKeyV1() echo.HandlerFunc {
	var (
		once sync.Once
		body *auditKeysBody
	)
	return func(c echo.Context) error {
		if s.hist == nil {
			return errNoHistory
		}
		once.Do(func() {
			if k, ok := s.store.(auditKeyer); ok {
				body = &auditKeysBody{Keys: k.AuditKeys()}
			}
		})
		if body == nil || len(body.Keys) == 0 {
			return errNoHistory
		}
		return c.JSON(http.StatusOK, body)
	}
}
