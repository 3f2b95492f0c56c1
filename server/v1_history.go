package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// HistoryOptions are the settings of versions and the audit trail.
type HistoryOptions struct {
	// MaxVersions kept per key; 0 means DefaultMaxVersions.
	MaxVersions int
	// DeletedRetention is how long deleted keys and old versions are kept
	// before they are purged; 0 means DefaultDeletedRetention.
	DeletedRetention time.Duration
	// AuditRetention is how long audit events are kept; 0 means
	// DefaultAuditRetention.
	AuditRetention time.Duration
	// AuditCoalesce is the window in which repeated identical reads are
	// stored as one event with a count (see auditBatch); 0 stores each
	// 250 ms batch of them as one event.
	AuditCoalesce time.Duration
	// Off keeps no history even on a backend that could: writes and
	// deletes are final, and the v1 history routes answer 501.
	Off bool
}

// Defaults of HistoryOptions (issue 11).
const (
	DefaultMaxVersions      = 20
	DefaultDeletedRetention = 30 * 24 * time.Hour
	DefaultAuditRetention   = 90 * 24 * time.Hour
	purgeHistoryEvery       = time.Hour
)

// v1State is the Server's history: nil hist when the backend keeps none.
type v1State struct {
	hist  storage.HistoryStore
	opts  HistoryOptions
	audit *auditBatch
}

func (s *Server) initV1(o HistoryOptions) {
	if o.MaxVersions <= 0 {
		o.MaxVersions = DefaultMaxVersions
	}
	if o.DeletedRetention <= 0 {
		o.DeletedRetention = DefaultDeletedRetention
	}
	if o.AuditRetention <= 0 {
		o.AuditRetention = DefaultAuditRetention
	}
	s.opts = o
	if !o.Off {
		s.hist = s.store
		s.audit = &auditBatch{log: s.store, warn: s.log.Warn, window: o.AuditCoalesce, now: func() time.Time { return s.now() }}
	}
}

// purgeHistory removes what the retention settings no longer keep, every
// purgeHistoryEvery until ctx ends.
func (s *Server) purgeHistory(ctx context.Context) {
	if s.hist == nil {
		return
	}
	t := time.NewTicker(purgeHistoryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		if err := s.hist.PurgeHistory(ctx, now.Add(-s.opts.DeletedRetention)); err != nil {
			s.log.Warn("purging old versions failed", "error", err.Error())
		}
		if err := s.hist.TrimAudit(ctx, now.Add(-s.opts.AuditRetention)); err != nil {
			s.log.Warn("trimming audit logs failed", "error", err.Error())
		}
	}
}

// writer is who a request writes as.
func writer(cl *auth.Claims) storage.Writer { return storage.Writer{Address: cl.Address, Job: cl.Job} }

// writeItems stores a legacy batch: as new versions with its audit event
// when the store keeps history, else as before.
func (s *Server) writeItems(c echo.Context, ctx context.Context, owner string, items []storage.Item) error {
	if s.hist == nil {
		return s.store.Put(ctx, owner, items)
	}
	changes := make([]storage.Change, len(items))
	keys := make([]string, len(items))
	for i, it := range items {
		changes[i] = storage.Change{Name: it.Name, Value: it.Value, CAS: storage.NoCAS}
		keys[i] = it.Name
	}
	slices.Sort(keys)
	ev := s.event(c, audit.Write, http.StatusOK, keys...)
	_, err := s.hist.Commit(ctx, storage.Commit{Owner: owner, By: writer(claimsOf(c)), Changes: changes,
		Event: &ev, Keep: s.opts.MaxVersions})
	return err
}

// deleteNames soft-deletes legacy DELETE names when the store keeps
// history (a legacy GET of them is 404 as before), else removes them.
func (s *Server) deleteNames(c echo.Context, ctx context.Context, owner string, names []string) error {
	if s.hist == nil {
		return s.store.Delete(ctx, owner, names)
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	changes := make([]storage.Change, len(names))
	for i, n := range names {
		changes[i] = storage.Change{Name: n, Delete: true, CAS: storage.NoCAS}
	}
	ev := s.event(c, audit.Delete, http.StatusOK, names...)
	_, err := s.hist.Commit(ctx, storage.Commit{Owner: owner, By: writer(claimsOf(c)), Changes: changes, Event: &ev})
	return err
}

// v1 errors go through the shared mapping (errors.go), with the codes of
// package errcode.

func v1NotFound(key string, err error) error {
	if errors.Is(err, storage.ErrDeleted) {
		return notFound("secret %s was deleted; restore it with POST /v1/secrets/:key/restore", key).withCode(errcode.SecretDeleted)
	}
	return notFound("secret %s not found", key).withCode(errcode.SecretNotFound)
}

func versionNotFound(key string, v int64) error {
	return notFound("secret %s has no version %d", key, v).withCode(errcode.VersionNotFound)
}

var errNoHistory = notImplemented(errcode.HistoryUnsupported, "this server's storage backend keeps no version history")

// requireHistory answers 501 when the backend keeps no history.
func (s *Server) requireHistory(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.hist == nil {
			return errNoHistory
		}
		return next(c)
	}
}

// ownerOnly refuses job tokens: history and the audit log are the owner's.
func ownerOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if claimsOf(c).Scoped() {
			return jobRefused(c)
		}
		return next(c)
	}
}

func jobRefused(echo.Context) error {
	return forbidden("a job token reads only the current value of the keys its job grants").withCode(errcode.OwnerOnly)
}

func (s *Server) historyRoutes(e *echo.Echo, authed []echo.MiddlewareFunc) {
	mw := append(slices.Clone(authed), s.requireHistory)
	owner := append(slices.Clone(mw), ownerOnly)
	e.GET("/v1/secrets/:key", with(s.getV1, mw...))
	e.PUT("/v1/secrets/:key", with(s.putV1, mw...))
	e.DELETE("/v1/secrets/:key", with(s.deleteV1, mw...))
	e.GET("/v1/secrets/:key/versions", with(s.versionsV1, owner...))
	e.POST("/v1/secrets/:key/restore", with(s.restoreVersionV1, owner...))
	// The same with the key in the query (v1Key): a browser cannot send
	// the keys "." and ".." as a path segment, escaped or not.
	e.GET(keyQueryPath, with(s.getV1, mw...))
	e.PUT(keyQueryPath, with(s.putV1, mw...))
	e.DELETE(keyQueryPath, with(s.deleteV1, mw...))
	e.GET(keyQueryPath+"/versions", with(s.versionsV1, owner...))
	e.POST(keyQueryPath+"/restore", with(s.restoreVersionV1, owner...))
	e.POST("/v1/restore", with(s.restoreAsOfV1, owner...))
	e.GET("/v1/audit", with(s.auditV1, owner...))
}

// keyQueryPath is where the per-key v1 routes take the key from the query,
// /v1/secret[/versions|/restore]?key=K: URL parsers (the WHATWG URL of
// every browser, fetch) remove the path segments "." and "..", and their
// escapes "%2E", "%2e%2E"…, so /v1/secrets/%2E can be sent by curl but not
// by the console, which would ask for /v1/secrets/ instead.
const keyQueryPath = "/v1/secret"

// v1Key is the :key segment of a /v1/secrets/:key[/…] path, unescaped once,
// or the one key query parameter of the keyQueryPath routes.
func v1Key(c echo.Context) (string, error) {
	if p := c.Path(); p == keyQueryPath || strings.HasPrefix(p, keyQueryPath+"/") {
		q, err := url.ParseQuery(c.Request().URL.RawQuery)
		if err != nil {
			return "", badRequest("the query is not validly escaped")
		}
		if len(q["key"]) != 1 {
			return "", badRequest("name the secret once, escaped, in the key query parameter: %s?key=…", p)
		}
		return q["key"][0], checkKey(q["key"][0])
	}
	seg := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/v1/secrets/")
	seg, _, _ = strings.Cut(seg, "/")
	key, err := url.PathUnescape(seg)
	if err != nil {
		return "", badRequest("secret key in the path is not validly escaped")
	}
	return key, checkKey(key)
}

func storeCtx(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), storage.DefaultCallTimeout)
}

type secretV1 struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (s *Server) getV1(c echo.Context) error {
	cl := claimsOf(c)
	key, err := v1Key(c)
	if err != nil {
		return err
	}
	var version int64
	if q := c.QueryParam("version"); q != "" {
		if version, err = strconv.ParseInt(q, 10, 64); err != nil || version < 1 {
			return badRequest("version must be a whole number from 1")
		}
	}
	ns := cl.ReadNamespace()
	if cl.Access != nil && version != 0 {
		return scopeRefused("an access token reads only current values; versions need the owner's sign-in")
	}
	if err := scopeKey(c, key, false); err != nil {
		return err
	}
	if cl.Scoped() {
		if version != 0 {
			return jobRefused(c)
		}
		if !cl.Grants(key) {
			s.record(ns, s.event(c, audit.Denied, http.StatusBadRequest, key))
			return badRequest("secret key %s not in job", key).withCode(errcode.KeyNotGranted)
		}
		if err := s.checkJobToken(c, cl); err != nil {
			return err
		}
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	var out secretV1
	if version == 0 {
		sec, err := s.store.Get(ctx, ns, key)
		if errors.Is(err, storage.ErrNotFound) {
			// A job sees a key it may read as there or not: whether the
			// owner deleted it (and may restore it) is the owner's to know.
			if cl.Scoped() {
				return v1NotFound(key, storage.ErrNotFound)
			}
			if _, verr := s.hist.GetVersion(ctx, ns, key, 0); errors.Is(verr, storage.ErrDeleted) {
				err = verr
			}
			return v1NotFound(key, err)
		}
		if err != nil {
			return err
		}
		out = secretV1{Key: key, Value: sec.Value, Version: sec.Version, CreatedAt: sec.CreatedAt, UpdatedAt: sec.UpdatedAt}
	} else {
		v, err := s.hist.GetVersion(ctx, ns, key, version)
		if errors.Is(err, storage.ErrNotFound) {
			return versionNotFound(key, version)
		}
		if err != nil {
			return err
		}
		if v.Deleted {
			return v1NotFound(key, storage.ErrDeleted)
		}
		out = secretV1{Key: key, Value: v.Value, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.CreatedAt}
	}
	s.record(ns, s.event(c, audit.Read, http.StatusOK, key))
	return c.JSON(http.StatusOK, out)
}

// readJSON reads the body into v, or answers what shape it should have.
func (s *Server) readJSON(c echo.Context, v any, shape string) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil || dec.More() {
		return badRequest("body must be a JSON object like %s", shape)
	}
	if err := checkUniqueKeys(body); err != nil {
		return badRequest("body names a key twice in one object; name each once: %s", shape)
	}
	return nil
}

func (s *Server) putV1(c echo.Context) error {
	cl := claimsOf(c)
	key, err := v1Key(c)
	if err != nil {
		return err
	}
	var req struct {
		Value json.RawMessage `json:"value"`
		CAS   *int64          `json:"cas"`
	}
	const shape = `{"value": <any JSON>, "cas": <optional version>}`
	if err := scopeKey(c, key, true); err != nil {
		return err
	}
	if err := s.readJSON(c, &req, shape); err != nil {
		return err
	}
	if len(req.Value) == 0 {
		return badRequest("value is required: %s", shape)
	}
	var value bytes.Buffer
	if err := json.Compact(&value, req.Value); err != nil {
		return badRequest("value is not valid JSON")
	}
	change := storage.Change{Name: key, Value: value.Bytes(), CAS: storage.NoCAS}
	if req.CAS != nil {
		if *req.CAS < 0 {
			return badRequest("cas must be 0 (the key must not exist) or a version")
		}
		change.CAS = *req.CAS
	}
	return s.commitOne(c, cl.Address, change, audit.Write)
}

// commitOne writes one change as the caller and answers {key, version},
// or 409 with the current version when its CAS does not hold.
func (s *Server) commitOne(c echo.Context, owner string, ch storage.Change, action audit.Action) error {
	ctx, cancel := storeCtx(c)
	defer cancel()
	ev := s.event(c, action, http.StatusOK, ch.Name)
	vs, err := s.hist.Commit(ctx, storage.Commit{Owner: owner, By: writer(claimsOf(c)),
		Changes: []storage.Change{ch}, Event: &ev, Keep: s.opts.MaxVersions})
	var ce *storage.ConflictError
	if errors.As(err, &ce) {
		return conflict(ch.Name, ce.Current)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"key": ch.Name, "version": vs[0]})
}

func (s *Server) deleteV1(c echo.Context) error {
	cl := claimsOf(c)
	key, err := v1Key(c)
	if err != nil {
		return err
	}
	destroy := false
	if q := c.QueryParam("destroy"); q != "" {
		if destroy, err = strconv.ParseBool(q); err != nil {
			return badRequest("destroy must be true or false")
		}
	}
	if destroy && cl.Access != nil {
		return scopeRefused("destroy=true is for the owner's sign-in only")
	}
	if err := scopeKey(c, key, true); err != nil {
		return err
	}
	if destroy && cl.Scoped() {
		// Destroying removes every version for good: like the versions
		// and restore routes, it is the owner's alone.
		return forbidden("destroy=true is for the owner's token only; a job token cannot destroy a key's history").withCode(errcode.OwnerOnly)
	}
	owner := cl.Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	if destroy {
		if _, err := s.hist.Versions(ctx, owner, key); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return v1NotFound(key, err)
			}
			return err
		}
		ev := s.event(c, audit.Delete, http.StatusOK, key)
		if err := s.hist.Destroy(ctx, owner, []string{key}, &ev); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"key": key, "destroyed": true})
	}
	ev := s.event(c, audit.Delete, http.StatusOK, key)
	vs, err := s.hist.Commit(ctx, storage.Commit{Owner: owner, By: writer(cl),
		Changes: []storage.Change{{Name: key, Delete: true, CAS: storage.NoCAS}}, Event: &ev})
	if err != nil {
		return err
	}
	if vs[0] == 0 {
		_, err := s.hist.GetVersion(ctx, owner, key, 0)
		return v1NotFound(key, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"key": key, "version": vs[0], "destroyed": false})
}

type writerBody struct {
	Address string `json:"address"`
	Job     string `json:"job,omitempty"`
}

type versionBody struct {
	Version   int64      `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	By        writerBody `json:"by"`
}

func (s *Server) versionsV1(c echo.Context) error {
	key, err := v1Key(c)
	if err != nil {
		return err
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	vs, err := s.hist.Versions(ctx, claimsOf(c).Address, key)
	if errors.Is(err, storage.ErrNotFound) {
		return v1NotFound(key, err)
	}
	if err != nil {
		return err
	}
	items := make([]versionBody, len(vs))
	for i, v := range vs {
		items[i] = versionBody{Version: v.Version, CreatedAt: v.CreatedAt, By: writerBody{v.By.Address, v.By.Job}}
		if v.Deleted {
			t := v.CreatedAt
			items[i].DeletedAt = &t
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

func (s *Server) restoreVersionV1(c echo.Context) error {
	owner := claimsOf(c).Address
	key, err := v1Key(c)
	if err != nil {
		return err
	}
	var req struct {
		Version int64 `json:"version"`
	}
	if err := s.readJSON(c, &req, `{"version": 3}`); err != nil {
		return err
	}
	if req.Version < 1 {
		return badRequest("version must be a whole number from 1")
	}
	ctx, cancel := storeCtx(c)
	v, err := s.hist.GetVersion(ctx, owner, key, req.Version)
	cancel()
	if errors.Is(err, storage.ErrNotFound) {
		return versionNotFound(key, req.Version)
	}
	if err != nil {
		return err
	}
	if v.Deleted {
		return badRequest("version %d of %s is its deletion; restore the version before it", req.Version, key)
	}
	return s.commitOne(c, owner, storage.Change{Name: key, Value: v.Value, CAS: storage.NoCAS}, audit.Restore)
}

type restoreChange struct {
	Key     string `json:"key"`
	Action  string `json:"action"` // "restored" or "deleted"
	Version int64  `json:"version"`
}

func (s *Server) restoreAsOfV1(c echo.Context) error {
	cl := claimsOf(c)
	var req struct {
		AsOf   time.Time `json:"as_of"`
		Prefix string    `json:"prefix"`
	}
	if err := s.readJSON(c, &req, `{"as_of": "2026-01-02T15:04:05Z", "prefix": "optional/"}`); err != nil {
		return err
	}
	if req.AsOf.IsZero() {
		return badRequest("as_of (an RFC 3339 time) is required")
	}
	if err := checkPrefix(req.Prefix); err != nil {
		return err
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	then, err := s.hist.AsOf(ctx, cl.Address, req.Prefix, req.AsOf)
	if err != nil {
		return err
	}
	now, err := s.store.List(ctx, cl.Address, req.Prefix)
	if err != nil {
		return err
	}
	current := make(map[string][]byte, len(now))
	for _, sec := range now {
		current[sec.Name] = sec.Value
	}
	var changes []storage.Change
	var actions []string
	live := map[string]bool{}
	for _, v := range then {
		if v.Deleted {
			continue
		}
		live[v.Name] = true
		if cur, ok := current[v.Name]; !ok || !bytes.Equal(cur, v.Value) {
			changes = append(changes, storage.Change{Name: v.Name, Value: v.Value, CAS: storage.NoCAS})
			actions = append(actions, "restored")
		}
	}
	for _, sec := range now {
		if !live[sec.Name] {
			changes = append(changes, storage.Change{Name: sec.Name, Delete: true, CAS: storage.NoCAS})
			actions = append(actions, "deleted")
		}
	}
	out := []restoreChange{}
	if len(changes) > 0 {
		keys := make([]string, len(changes))
		for i, ch := range changes {
			keys[i] = ch.Name
		}
		ev := s.event(c, audit.Restore, http.StatusOK, keys...)
		vs, err := s.hist.Commit(ctx, storage.Commit{Owner: cl.Address, By: writer(cl), Changes: changes,
			Event: &ev, Keep: s.opts.MaxVersions})
		if err != nil {
			return err
		}
		for i, ch := range changes {
			out = append(out, restoreChange{Key: ch.Name, Action: actions[i], Version: vs[i]})
		}
	}
	slices.SortFunc(out, func(a, b restoreChange) int { return strings.Compare(a.Key, b.Key) })
	return c.JSON(http.StatusOK, map[string]any{"as_of": req.AsOf.UTC(), "changes": out})
}

type metaBody struct {
	Key       string    `json:"key"`
	Version   int64     `json:"version"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Pages of /v1/secrets and /v1/audit.
const (
	defaultPage = 100
	maxPage     = 1000
)

func pageLimit(c echo.Context) (int, error) {
	q := c.QueryParam("limit")
	if q == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > maxPage {
		return 0, badRequest("limit must be a whole number from 1 to %d", maxPage)
	}
	return n, nil
}

func parseTime(c echo.Context, name string) (time.Time, error) {
	q := c.QueryParam(name)
	if q == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, q)
	if err != nil {
		return time.Time{}, badRequest("%s must be an RFC 3339 time like 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

// listAsOf answers GET /v1/secrets?as_of=: the owner's namespace as it was
// at asOf, one page of limit after the name after (listKeys parses the rest).
func (s *Server) listAsOf(c echo.Context, prefix, after string, limit int, asOf time.Time) error {
	cl := claimsOf(c)
	if cl.Access != nil {
		return scopeRefused("an access token reads only current values; as_of needs the owner's sign-in")
	}
	if cl.Scoped() {
		return jobRefused(c)
	}
	if s.hist == nil {
		return errNoHistory
	}
	ns := cl.ReadNamespace()
	ctx, cancel := storeCtx(c)
	defer cancel()
	vs, err := s.hist.AsOf(ctx, ns, prefix, asOf)
	if err != nil {
		return err
	}
	var items []metaBody
	for _, v := range vs {
		if !v.Deleted && !reservedName(v.Name) {
			items = append(items, metaBody{Key: v.Name, Version: v.Version, Size: len(v.Value), CreatedAt: v.CreatedAt, UpdatedAt: v.CreatedAt})
		}
	}
	start, _ := slices.BinarySearchFunc(items, after, func(m metaBody, k string) int { return strings.Compare(m.Key, k) })
	if start < len(items) && items[start].Key == after {
		start++
	}
	page := items[start:min(start+limit, len(items))]
	var next *string
	if start+limit < len(items) {
		n := base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Key))
		next = &n
	}
	keys := make([]string, len(page))
	for i, m := range page {
		keys[i] = m.Key
	}
	s.record(ns, s.event(c, audit.List, http.StatusOK, keys...))
	if page == nil {
		page = []metaBody{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": page, "next_cursor": next})
}

// auditV1 answers one page of the caller's events, newest first, filtered
// by the store (key, action, time) before the cursor (a seq). One request
// reads at most storage.AuditScanMax events: a filter that matches little
// answers a short page, maybe empty, with a cursor to go on.
func (s *Server) auditV1(c echo.Context) error {
	owner := claimsOf(c).Address
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	q := storage.AuditQuery{Limit: limit, Key: c.QueryParam("key"), Action: audit.Action(c.QueryParam("action"))}
	if q.Since, err = parseTime(c, "since"); err != nil {
		return err
	}
	if q.Until, err = parseTime(c, "until"); err != nil {
		return err
	}
	if q.Action != "" && !q.Action.Valid() {
		return badRequest("action must be one of login, read, list, write, delete, restore, denied, trim, rekey, token_create, token_revoke, trust_create, trust_delete, oidc_exchange")
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		if q.Before, err = strconv.ParseUint(cur, 10, 63); err != nil || q.Before == 0 {
			return badRequest("cursor is not one this server gave")
		}
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	s.audit.flush(ctx, owner) // what this owner did a moment ago is in the answer
	page, err := s.hist.Audit(ctx, owner, q)
	if err != nil {
		return err
	}
	var next *string
	if page.Next != 0 {
		n := strconv.FormatUint(page.Next, 10)
		next = &n
	}
	return c.JSON(http.StatusOK, map[string]any{"items": page.Events, "next_cursor": next})
}
