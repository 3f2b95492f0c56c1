package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/server/ui"
)

// consoleConfig is /ui/config.json: what the page must know to build a
// sign-in message this server accepts.
type consoleConfig struct {
	Audiences []consoleAudience `json:"audiences"`
	Statement string            `json:"statement"`
}

type consoleAudience struct {
	Domain string `json:"domain"`
	URI    string `json:"uri"`
}

// routeConsole serves the web console at /ui/ when it is on.
func (s *Server) routeConsole(e *echo.Echo) error {
	if !s.console {
		return nil
	}
	cfg := consoleConfig{Audiences: []consoleAudience{}, Statement: auth.Statement}
	for _, a := range s.audiences {
		cfg.Audiences = append(cfg.Audiences, consoleAudience{Domain: a.Domain, URI: a.URI})
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	h, err := ui.New(b)
	if err != nil {
		return err
	}
	toIndex := func(c echo.Context) error {
		ui.SecurityHeaders(c.Response().Header())
		return c.Redirect(http.StatusMovedPermanently, "/ui/")
	}
	serve := func(c echo.Context) error {
		h.Serve(c.Response(), c.Request(), strings.TrimPrefix(c.Request().URL.Path, "/ui/"))
		return nil
	}
	e.GET("/ui", toIndex)
	e.HEAD("/ui", toIndex)
	e.GET("/ui/*", serve)
	e.HEAD("/ui/*", serve)
	return nil
}

// wantsConsole reports whether GET / should redirect a browser to the
// console instead of answering the legacy JSON.
func (s *Server) wantsConsole(c echo.Context) bool {
	if !s.console {
		return false
	}
	c.Response().Header().Add(echo.HeaderVary, "Accept")
	return ui.PrefersHTML(c.Request().Header.Get(echo.HeaderAccept))
}
