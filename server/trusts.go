package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// A trust lets the holder of an OIDC token from Issuer, for Audience, whose
// claims match Claims, exchange it (POST /v1/auth/oidc) for an access token
// of the trust's scope living TTL. Claims are compared exactly, as strings;
// a value written "glob:PATTERN" matches with path.Match (where * stops at
// "/"), and only there.
type trustRecord struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Issuer    string            `json:"issuer"`
	Audience  string            `json:"audience,omitempty"`
	Claims    map[string]string `json:"claims"`
	Prefix    string            `json:"prefix"`
	Write     bool              `json:"write"`
	TTL       string            `json:"ttl"`
	CreatedAt time.Time         `json:"created_at"`
}

// shortDuration writes d as 15m or 1h rather than 15m0s or 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// globPrefix marks a claim value matched as a path.Match pattern.
const globPrefix = "glob:"

// maxOIDCToken bounds the issuer's JWT of an exchange.
const maxOIDCToken = 16 << 10

func (s *Server) createTrust(c echo.Context) error {
	var req struct {
		Name     string            `json:"name"`
		Issuer   string            `json:"issuer"`
		Audience string            `json:"audience"`
		Claims   map[string]string `json:"claims"`
		Prefix   string            `json:"prefix"`
		Write    bool              `json:"write"`
		TTL      string            `json:"ttl"`
	}
	const shape = `{"name": "deploy", "issuer": "https://token.actions.githubusercontent.com", "claims": {"repository": "org/repo", "ref": "refs/heads/main"}, "prefix": "optional/", "write": false, "ttl": "15m"}`
	if err := s.readJSON(c, &req, shape); err != nil {
		return err
	}
	if err := checkLabel(req.Name); err != nil {
		return err
	}
	if req.Issuer == "" {
		req.Issuer = oidcauth.GitHubIssuer
	}
	if s.oidc == nil || !s.oidc.Accepts(req.Issuer) {
		return badRequest("issuer %q is not one this server accepts; its operator lists them in OIDC_ISSUERS", truncate(req.Issuer, 200)).withCode(errcode.IssuerNotAllowed)
	}
	if len(req.Claims) == 0 || len(req.Claims) > 20 {
		return badRequest("claims must name 1 to 20 claims the token must carry, e.g. {\"repository\": \"org/repo\"}")
	}
	for k, v := range req.Claims {
		if k == "" || len(k) > 100 || v == "" || len(v) > 500 || k == "iss" || k == "aud" || k == "exp" || k == "nbf" || k == "iat" {
			return badRequest("claims: %q must be a claim name other than iss, aud, exp, nbf and iat, with a non-empty value", truncate(k, 100))
		}
		if g, ok := strings.CutPrefix(v, globPrefix); ok {
			if _, err := path.Match(g, ""); err != nil {
				return badRequest("claims: %s is not a valid glob pattern", k)
			}
		}
	}
	if req.Issuer == oidcauth.GitHubIssuer && req.Claims["repository"] == "" && req.Claims["repository_id"] == "" && req.Claims["sub"] == "" {
		return badRequest("a GitHub trust must name the repository (claims.repository): any workflow on GitHub gets tokens from this issuer")
	}
	if req.Audience != "" && len(req.Audience) > 500 {
		return badRequest("audience is too long")
	}
	if err := checkPrefix(req.Prefix); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL, defaultTrustTTL, maxTrustTTL)
	if err != nil {
		return err
	}
	_, id := auth.NewAccessToken() // only its random id
	rec := trustRecord{ID: id, Name: req.Name, Issuer: req.Issuer, Audience: req.Audience, Claims: req.Claims,
		Prefix: req.Prefix, Write: req.Write, TTL: shortDuration(ttl), CreatedAt: s.now().UTC().Truncate(time.Second)}
	b, _ := json.Marshal(rec)
	owner := claimsOf(c).Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	if err := s.store.Put(ctx, internalNS(owner), []storage.Item{{Name: "trust/" + id, Value: b}}); err != nil {
		return err
	}
	s.record(owner, s.event(c, audit.TrustCreate, http.StatusCreated, "trust/"+id))
	return c.JSON(http.StatusCreated, rec)
}

func (s *Server) trusts(c echo.Context, owner string) ([]trustRecord, error) {
	ctx, cancel := storeCtx(c)
	defer cancel()
	list, err := s.store.List(ctx, internalNS(owner), "trust/")
	if err != nil {
		return nil, err
	}
	out := []trustRecord{}
	for _, sec := range list {
		var r trustRecord
		if json.Unmarshal(sec.Value, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Server) listTrusts(c echo.Context) error {
	list, err := s.trusts(c, claimsOf(c).Address)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": list})
}

func (s *Server) deleteTrust(c echo.Context) error {
	owner := claimsOf(c).Address
	id := c.Param("id")
	nf := notFound("you have no trust with this id").withCode(errcode.TrustNotFound)
	if !idPattern.MatchString(id) {
		return nf
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	if err := s.dropListed(ctx, c, owner, nf, audit.TrustDelete, "trust/"+id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "deleted": true})
}

// matches reports whether a verified token's claims satisfy the trust's.
func (t trustRecord) matches(claims map[string]any) bool {
	for k, want := range t.Claims {
		got, ok := claims[k].(string)
		if !ok {
			return false
		}
		if g, isGlob := strings.CutPrefix(want, globPrefix); isGlob {
			if m, _ := path.Match(g, got); !m {
				return false
			}
		} else if got != want {
			return false
		}
	}
	return true
}

// exchangeOIDC answers POST /v1/auth/oidc {owner, token}: the issuer's JWT,
// verified, for an access token of the owner's first trust it matches.
// Every answer but a malformed body is an event in the owner's log.
func (s *Server) exchangeOIDC(c echo.Context) error {
	var req struct {
		Owner string `json:"owner"`
		Token string `json:"token"`
	}
	if err := s.readJSON(c, &req, `{"owner": "<wallet address>", "token": "<the issuer's JWT>"}`); err != nil {
		return err
	}
	if _, err := auth.ParseAddress("owner", req.Owner); err != nil {
		return badRequest("owner must be the base58 address of the wallet whose trust to use")
	}
	if req.Token == "" || len(req.Token) > maxOIDCToken {
		return badRequest("token must be the OIDC issuer's JWT")
	}
	refused := func(actor, reason, msg string) error {
		ev := s.event(c, audit.OIDCExchange, http.StatusForbidden)
		ev.Actor, ev.Reason = actor, reason
		s.record(req.Owner, ev)
		return forbidden("OIDC token not exchanged: " + msg).withCode(errcode.OIDCRefused)
	}
	iss, err := oidcauth.UnverifiedIssuer(req.Token)
	if err != nil {
		return refused("oidc", reason(err), err.Error())
	}
	if s.oidc == nil || !s.oidc.Accepts(iss) {
		return refused("oidc "+truncate(iss, 200), oidcauth.ReasonUnknownIssuer, "the token's issuer is not one this server accepts")
	}
	all, err := s.trusts(c, req.Owner)
	if err != nil {
		return err
	}
	all = slices.DeleteFunc(all, func(t trustRecord) bool { return t.Issuer != iss })
	if len(all) == 0 {
		return refused("oidc "+iss, "no_trust", "the owner trusts no token of this issuer")
	}
	// One verification per audience the owner's trusts of iss expect.
	var lastErr error
	var tok *oidcauth.Token
	for _, aud := range s.trustAudiences(all) {
		t, err := s.oidc.Verify(c.Request().Context(), req.Token, aud)
		if err != nil {
			lastErr = err
			continue
		}
		tok = t
		for _, tr := range all {
			if slices.Equal(s.trustAudience(tr), aud) && tr.matches(t.Claims) {
				return s.grantExchange(c, req.Owner, tr, t)
			}
		}
	}
	if tok != nil {
		return refused("oidc "+iss+" "+truncate(tok.Subject, 300), oidcauth.ReasonClaims, "no trust of the owner matches the token's claims")
	}
	var oe *oidcauth.Error
	if errors.As(lastErr, &oe) && oe.Reason == oidcauth.ReasonIssuerDown {
		return unavailable("the OIDC issuer's keys could not be fetched; try again", lastErr)
	}
	return refused("oidc "+iss, reason(lastErr), lastErr.Error())
}

func reason(err error) string {
	var oe *oidcauth.Error
	if errors.As(err, &oe) {
		return oe.Reason
	}
	return oidcauth.ReasonMalformed
}

// trustAudience is what a trust's tokens may name as aud: its audience,
// or else any URL of this server (PUBLIC_URL, or the loopback URLs of
// its port without one).
func (s *Server) trustAudience(t trustRecord) []string {
	if t.Audience != "" {
		return []string{t.Audience}
	}
	return s.oidcAudiences
}

func (s *Server) trustAudiences(ts []trustRecord) [][]string {
	var out [][]string
	for _, t := range ts {
		a := s.trustAudience(t)
		if !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, a) }) {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) grantExchange(c echo.Context, owner string, tr trustRecord, t *oidcauth.Token) error {
	ttl, err := time.ParseDuration(tr.TTL)
	if err != nil || ttl <= 0 || ttl > maxTrustTTL {
		ttl = defaultTrustTTL
	}
	rec := tokenRecord{Owner: owner, Name: tr.Name, Prefix: tr.Prefix, Write: tr.Write, Trust: tr.ID,
		Subject: truncate(t.Subject, 300)}
	tok, err := s.mintToken(c, &rec, ttl)
	if err != nil {
		return err
	}
	a := auth.Access{ID: rec.ID, Name: rec.Name, Trust: tr.ID, Subject: rec.Subject}
	ev := s.event(c, audit.OIDCExchange, http.StatusOK, "token/"+rec.ID)
	ev.Actor = a.Actor()
	s.record(owner, ev)
	return c.JSON(http.StatusOK, map[string]any{"id": rec.ID, "token": tok, "expires_at": rec.ExpiresAt,
		"prefix": rec.Prefix, "write": rec.Write, "trust": tr.ID})
}
