package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Access tokens (issue 23) are kept through the store's existing contracts:
//
//   - the authoritative record of a token, by id, is the meta record
//     "access-token:<id>" (tokenRecord: the owner, scope, expiry, revocation
//     and the SHA-256 of the token, never the token). A revocation rewrites
//     it; it is never deleted, so a revoked token stays told apart from an
//     unknown one.
//   - each owner's list is a namespace no wallet or job can address,
//     internalNS(owner) ("~access:" + owner, never a base58 address): the
//     secret "token/<id>" holds the record without the hash, "use/<id>"
//     the token's last use, and "trust/<id>" each OIDC trust. Values there
//     are sealed like any secret.
//
// A replica checks a token against its meta record on first use and again
// whenever its last check is accessRecheck old, so a revocation holds on
// every replica within accessRecheck plus one store read.
const (
	tokenMetaPrefix = "access-token:"
	internalPrefix  = "~access:"
	accessRecheck   = 500 * time.Millisecond
	// accessStale is the oldest check other requests accept while one
	// reads the record again; past it every request reads it.
	accessStale = 900 * time.Millisecond
	// lastUseEvery is how often a replica records a token's last use.
	lastUseEvery = time.Minute
	// maxTokenTTL bounds a token's life; maxTrustTTL an exchanged one's.
	maxTokenTTL     = 365 * 24 * time.Hour
	defaultTokenTTL = 720 * time.Hour
	maxTrustTTL     = time.Hour
	defaultTrustTTL = 15 * time.Minute
	maxAccessCache  = 10000
)

func internalNS(owner string) string { return internalPrefix + owner }

// tokenRecord is an access token as stored: in meta (with Owner and Hash)
// and in the owner's list (listed: without). GET /v1/tokens answers the
// listed record with LastUsedAt, which no stored record carries.
type tokenRecord struct {
	ID         string     `json:"id"`
	Owner      string     `json:"owner,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Write      bool       `json:"write"`
	Hash       string     `json:"hash,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Trust      string     `json:"trust,omitempty"`
	Subject    string     `json:"subject,omitempty"`
}

// listed is r as the owner's list keeps it and GET /v1/tokens shows it:
// without its owner, hash, revocation or last use.
func (r tokenRecord) listed() tokenRecord {
	r.Owner, r.Hash, r.RevokedAt, r.LastUsedAt = "", "", nil, nil
	return r
}

// accessState is the server's view of access tokens: the tokens verified
// lately (their records are the store's meta records).
type accessState struct {
	mu    sync.Mutex
	cache map[[sha256.Size]byte]*accessEntry
}

type accessEntry struct {
	claims  *auth.Claims
	checked time.Time    // last read of the meta record
	used    atomic.Int64 // unix nanoseconds of the last use recorded in the owner's list
	// refreshing: a request is reading the record again.
	refreshing atomic.Bool
}

func (s *Server) initAccess() {
	s.access.cache = map[[sha256.Size]byte]*accessEntry{}
}

func scopeRefused(format string, args ...any) *apiError {
	return forbidden(fmt.Sprintf(format, args...)).withCode(errcode.TokenScope)
}

// accessRoutes are the authenticated routes an access token may use;
// handlers check its prefix and write flag. Every other route behind
// requireAuth refuses it (token_scope), so a route added later is
// owner-only for access tokens until it says otherwise. Public routes
// (/, /health, the console…) take it as they take any valid token.
var accessRoutes = map[string]bool{
	"/secrets": true, "/secrets/": true, "/secrets/:key": true,
	"/v1/secrets": true, "/v1/secrets/:key": true, keyQueryPath: true,
	"/v1/whoami": true,
}

// verifyAccess checks an nst_ token: its record, hash, revocation and
// expiry, read again when the last read is accessRecheck old.
func (s *Server) verifyAccess(c echo.Context, tok string) (*auth.Claims, error) {
	id, ok := auth.ParseAccessToken(tok)
	if !ok {
		return nil, forbidden("access token is malformed")
	}
	var buf [auth.AccessTokenLen]byte // tok's length, checked: no allocation
	key := sha256.Sum256(buf[:copy(buf[:], tok)])
	now := s.now()
	s.access.mu.Lock()
	e := s.access.cache[key]
	s.access.mu.Unlock()
	if e == nil || now.Sub(e.checked) >= accessRecheck || now.Before(e.checked) {
		// One request reads the record again; the others of the moment go
		// on with the entry while it is younger than accessStale.
		if e != nil && now.Sub(e.checked) < accessStale && !now.Before(e.checked) && !e.refreshing.CompareAndSwap(false, true) {
			return s.accessOK(e, id, now)
		}
		rec, err := s.loadToken(c.Request().Context(), id)
		if e != nil {
			defer e.refreshing.Store(false)
		}
		if errors.Is(err, storage.ErrNotFound) || err == nil && !auth.AccessHashMatches(tok, rec.Hash) {
			return nil, forbidden("access token is not one of this server's")
		}
		if err != nil {
			return nil, err
		}
		if rec.RevokedAt != nil {
			s.dropAccess(key)
			return nil, forbidden("access token " + id + " was revoked").withCode(errcode.TokenRevoked)
		}
		cl := &auth.Claims{Address: rec.Owner, Access: auth.NewAccess(auth.Access{ID: rec.ID, Name: rec.Name,
			Prefix: rec.Prefix, Write: rec.Write, Trust: rec.Trust, Subject: rec.Subject})}
		cl.ExpiresAt = jwt.NewNumericDate(rec.ExpiresAt)
		ne := &accessEntry{claims: cl, checked: now}
		if e != nil {
			ne.used.Store(e.used.Load())
		}
		s.access.mu.Lock()
		e = ne
		for k := range s.access.cache {
			if len(s.access.cache) < maxAccessCache {
				break
			}
			delete(s.access.cache, k)
		}
		s.access.cache[key] = e
		s.access.mu.Unlock()
	}
	return s.accessOK(e, id, now)
}

// accessOK checks e's expiry and notes its use.
func (s *Server) accessOK(e *accessEntry, id string, now time.Time) (*auth.Claims, error) {
	if !now.Before(e.claims.ExpiresAt.Time) {
		return nil, forbidden("access token " + id + " expired").withCode(errcode.TokenExpired)
	}
	if last := e.used.Load(); now.UnixNano()-last >= int64(lastUseEvery) && e.used.CompareAndSwap(last, now.UnixNano()) {
		go s.noteUse(e.claims.Address, id, now)
	}
	return e.claims, nil
}

func (s *Server) dropAccess(key [sha256.Size]byte) {
	s.access.mu.Lock()
	delete(s.access.cache, key)
	s.access.mu.Unlock()
}

// noteUse records a token's last use in its owner's list, for GET /v1/tokens.
func (s *Server) noteUse(owner, id string, t time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), storage.DefaultCallTimeout)
	defer cancel()
	v, _ := json.Marshal(t.UTC())
	if err := s.store.Put(ctx, internalNS(owner), []storage.Item{{Name: "use/" + id, Value: v}}); err != nil {
		s.log.Warn("could not record an access token's last use", "token_id", id, "error", err.Error())
	}
}

func (s *Server) loadToken(ctx context.Context, id string) (tokenRecord, error) {
	var rec tokenRecord
	b, err := s.store.GetMeta(ctx, tokenMetaPrefix+id)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.ID != id || rec.Owner == "" {
		return rec, errors.New("access token record " + id + " does not decode")
	}
	return rec, nil
}

// scopePrefix narrows a listing's prefix to an access token's: a prefix
// inside the token's is kept, one that contains it becomes it, any other
// is refused.
func scopePrefix(c echo.Context, prefix string) (string, error) {
	a := claimsOf(c).Access
	switch {
	case a == nil || strings.HasPrefix(prefix, a.Prefix):
		return prefix, nil
	case strings.HasPrefix(a.Prefix, prefix):
		return a.Prefix, nil
	}
	return "", scopeRefused("this access token reads only keys under %q", a.Prefix)
}

// checkPrefix refuses a prefix no key name could start with.
func checkPrefix(prefix string) error {
	if !storage.ValidPrefix(prefix) {
		return badRequest("prefix must be UTF-8 without NUL, of at most %d bytes", storage.MaxNameLen)
	}
	return nil
}

// queryPrefix is a listing's ?prefix=, checked and narrowed to an access
// token's prefix (scopePrefix).
func queryPrefix(c echo.Context) (string, error) {
	prefix := c.QueryParam("prefix")
	if err := checkPrefix(prefix); err != nil {
		return "", err
	}
	return scopePrefix(c, prefix)
}

// scopeKey refuses a key outside an access token's prefix, and a write
// with a read-only one.
func scopeKey(c echo.Context, key string, write bool) error {
	a := claimsOf(c).Access
	if a == nil || a.Allows(key, write) {
		return nil
	}
	if !strings.HasPrefix(key, a.Prefix) {
		return scopeRefused("this access token may use only keys under %q, not %s", a.Prefix, key)
	}
	return scopeRefused("this access token is read-only")
}

// ownerOnlyAccess refuses access tokens on a route not in accessRoutes.
func ownerOnlyAccess(c echo.Context) error {
	if a := claimsOf(c).Access; a != nil && !accessRoutes[c.Path()] {
		return scopeRefused("an access token reads and writes secrets only; this route needs the owner's sign-in")
	}
	return nil
}

func (s *Server) tokenRoutes(e *echo.Echo, authed []echo.MiddlewareFunc) {
	// requireAuth refuses access tokens here (none of these routes is in
	// accessRoutes); ownerOnly refuses job tokens.
	mw := append(append([]echo.MiddlewareFunc{}, authed...), ownerOnly)
	e.POST("/v1/tokens", with(s.createToken, mw...))
	e.GET("/v1/tokens", with(s.listTokens, mw...))
	e.DELETE("/v1/tokens/:id", with(s.revokeToken, mw...))
	e.POST("/v1/trusts", with(s.createTrust, mw...))
	e.GET("/v1/trusts", with(s.listTrusts, mw...))
	e.DELETE("/v1/trusts/:id", with(s.deleteTrust, mw...))
	e.POST("/v1/auth/oidc", with(s.exchangeOIDC, s.limitIP(s.limits.LoginIP, "login")))
}

// parseTTL reads "720h", "90m" or "30d"; "" is def; over max is refused.
func parseTTL(s string, def, max time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
		if days > 100000 {
			err = errors.New("too long")
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Minute || d > max {
		return 0, badRequest("ttl must be a duration like 90m, 720h or 30d, from 1m to %s", fmtDuration(max))
	}
	return d, nil
}

func fmtDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// checkLabel checks a token's or trust's name: 1 to 100 printable characters.
func checkLabel(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return badRequest("name must be 1 to 100 printable characters")
	}
	return nil
}

type createTokenReq struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Write  bool   `json:"write"`
	TTL    string `json:"ttl"`
}

func (s *Server) createToken(c echo.Context) error {
	var req createTokenReq
	const shape = `{"name": "ci", "prefix": "optional/", "write": false, "ttl": "720h"}`
	if err := s.readJSON(c, &req, shape); err != nil {
		return err
	}
	if err := checkLabel(req.Name); err != nil {
		return err
	}
	if err := checkPrefix(req.Prefix); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL, defaultTokenTTL, maxTokenTTL)
	if err != nil {
		return err
	}
	owner := claimsOf(c).Address
	rec := tokenRecord{Owner: owner, Name: req.Name, Prefix: req.Prefix, Write: req.Write}
	tok, err := s.mintToken(c, &rec, ttl)
	if err != nil {
		return err
	}
	ev := s.event(c, audit.TokenCreate, http.StatusCreated, "token/"+rec.ID)
	s.record(owner, ev)
	return c.JSON(http.StatusCreated, map[string]any{"id": rec.ID, "token": tok, "name": rec.Name,
		"prefix": rec.Prefix, "write": rec.Write, "expires_at": rec.ExpiresAt})
}

// mintToken makes a token for rec (its owner and scope set), stores its
// record and list entry, and returns the token.
func (s *Server) mintToken(c echo.Context, rec *tokenRecord, ttl time.Duration) (string, error) {
	tok, id := auth.NewAccessToken()
	now := s.now().UTC().Truncate(time.Second)
	rec.ID, rec.Hash, rec.CreatedAt, rec.ExpiresAt = id, auth.HashAccessToken(tok), now, now.Add(ttl)
	ctx, cancel := storeCtx(c)
	defer cancel()
	lb, _ := json.Marshal(rec.listed())
	if err := s.store.Put(ctx, internalNS(rec.Owner), []storage.Item{{Name: "token/" + id, Value: lb}}); err != nil {
		return "", err
	}
	mb, _ := json.Marshal(rec)
	if err := s.store.PutMeta(ctx, tokenMetaPrefix+id, mb); err != nil {
		_ = s.store.Delete(ctx, internalNS(rec.Owner), []string{"token/" + id})
		return "", err
	}
	return tok, nil
}

func (s *Server) listTokens(c echo.Context) error {
	owner := claimsOf(c).Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	toks, err := s.store.List(ctx, internalNS(owner), "token/")
	if err != nil {
		return err
	}
	uses, err := s.store.List(ctx, internalNS(owner), "use/")
	if err != nil {
		return err
	}
	used := map[string]time.Time{}
	for _, u := range uses {
		var t time.Time
		if json.Unmarshal(u.Value, &t) == nil {
			used[strings.TrimPrefix(u.Name, "use/")] = t
		}
	}
	now := s.now()
	items := []tokenRecord{}
	var gone []string
	for _, sec := range toks {
		var r tokenRecord
		if json.Unmarshal(sec.Value, &r) != nil {
			continue
		}
		if !now.Before(r.ExpiresAt) {
			gone = append(gone, "token/"+r.ID, "use/"+r.ID)
			continue
		}
		b := r.listed()
		if t, ok := used[r.ID]; ok {
			b.LastUsedAt = &t
		}
		items = append(items, b)
	}
	if len(gone) > 0 { // expired tokens leave the list; their records stay
		_ = s.store.Delete(ctx, internalNS(owner), gone)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// dropListed deletes names from owner's internal list, or answers nf when
// the first is not there, and records action on the first.
func (s *Server) dropListed(ctx context.Context, c echo.Context, owner string, nf error, action audit.Action, names ...string) error {
	if _, err := s.store.Get(ctx, internalNS(owner), names[0]); errors.Is(err, storage.ErrNotFound) {
		return nf
	} else if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, internalNS(owner), names); err != nil {
		return err
	}
	s.record(owner, s.event(c, action, http.StatusOK, names[0]))
	return nil
}

func (s *Server) revokeToken(c echo.Context) error {
	owner := claimsOf(c).Address
	id := c.Param("id")
	notFound := notFound("you have no access token with this id").withCode(errcode.TokenNotFound)
	if !idPattern.MatchString(id) {
		return notFound
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	rec, err := s.loadToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		// Listed but unknown to the server: a restore into another store
		// carries the owner's list, not the records. Nothing verifies it;
		// revoking takes it off the list.
		if err := s.dropListed(ctx, c, owner, notFound, audit.TokenRevoke, "token/"+id, "use/"+id); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"id": id, "revoked": true, "revoked_at": s.now().UTC()})
	}
	if err == nil && rec.Owner != owner {
		return notFound
	}
	if err != nil {
		return err
	}
	if rec.RevokedAt == nil {
		t := s.now().UTC()
		rec.RevokedAt = &t
		b, _ := json.Marshal(rec)
		if err := s.store.PutMeta(ctx, tokenMetaPrefix+id, b); err != nil {
			return err
		}
		s.record(owner, s.event(c, audit.TokenRevoke, http.StatusOK, "token/"+id))
	}
	if err := s.store.Delete(ctx, internalNS(owner), []string{"token/" + id, "use/" + id}); err != nil {
		return err
	}
	// This replica forgets it now; others within accessRecheck.
	s.access.mu.Lock()
	for k, e := range s.access.cache {
		if e.claims.Access.ID == id {
			delete(s.access.cache, k)
		}
	}
	s.access.mu.Unlock()
	return c.JSON(http.StatusOK, map[string]any{"id": id, "revoked": true, "revoked_at": rec.RevokedAt})
}
