package server

import (
	_ "embed"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// openAPIDoc describes every route, legacy and v1, in OpenAPI 3.1. The
// server's tests check each real answer against it, so it stays true.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document served at /v1/openapi.json.
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

func (s *Server) openAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, openAPIDoc)
}
