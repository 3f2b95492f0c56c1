package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobdef"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Confidential job definitions (issue 22). A template is stored as a
// versioned, sealed secret of its owner under the reserved name
// templatePrefix+NAME: the owner's quota, history and audit chain cover it
// as they cover secrets, and the secret routes refuse and hide every name
// under the prefix (reservedName), so no secret route, job grant or
// listing reaches a template. The node routes take today's node's header
// J:S:T instead of a token.

// templatePrefix starts the storage name of every template. The unit
// separator sorts before every printable character and is refused in keys
// by the secret routes.
const templatePrefix = "\x1fjobdef/"

// reservedName reports whether a storage name is a template's.
func reservedName(name string) bool { return strings.HasPrefix(name, templatePrefix) }

// withoutReserved drops templates from a listing, in place.
func withoutReserved(list []storage.Secret) []storage.Secret {
	return slices.DeleteFunc(list, func(s storage.Secret) bool { return reservedName(s.Name) })
}

// The node routes.
const (
	nodeDefinitionPath = "/v1/jobs/:job/job-definition"
	nodeResultsPath    = "/v1/jobs/:job/results"
)

// Defaults of JobDefinitionOptions.
const (
	DefaultJobDefinitionFetches = 8
	DefaultJobResultWindow      = time.Hour
	// maxResultVersions is how many results of one job are kept, and
	// how many posts of one job are taken.
	maxResultVersions = 4
	// boundTTL is how long a job's fetch and result counters live.
	boundTTL = 30 * 24 * time.Hour
)

// JobDefinitionOptions are the settings of the node routes.
type JobDefinitionOptions struct {
	// Fetches is how many fetches of one job's definition are answered,
	// across replicas; 0 means DefaultJobDefinitionFetches.
	Fetches int
	// ResultWindow is how long after a job ended its node may still post
	// the result; 0 means DefaultJobResultWindow.
	ResultWindow time.Duration
}

// templateBody is the answer of GET /v1/job-definitions/:name.
type templateBody struct {
	Name        string          `json:"name"`
	Version     int64           `json:"version"`
	Definition  json.RawMessage `json:"definition"`
	Secrets     []string        `json:"secrets"`
	Placeholder json.RawMessage `json:"placeholder"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func (s *Server) jobDefinitionRoutes(e *echo.Echo, authed []echo.MiddlewareFunc) {
	owner := append(slices.Clone(authed), s.requireHistory, ownerOnly)
	e.GET("/v1/job-definitions", with(s.listTemplates, owner...))
	e.PUT("/v1/job-definitions/:name", with(s.putTemplate, owner...))
	e.GET("/v1/job-definitions/:name", with(s.getTemplate, owner...))
	e.DELETE("/v1/job-definitions/:name", with(s.deleteTemplate, owner...))
	node := []echo.MiddlewareFunc{s.limitIP(s.limits.SecretsIP, "secrets"), s.requireHistory}
	e.GET(nodeDefinitionPath, with(s.fetchDefinition, node...))
	e.POST(nodeResultsPath, with(s.postResult, node...))
}

// nodeRoute reports whether a matched route takes the node's header
// rather than a token (authenticate leaves its Authorization alone).
func nodeRoute(path string) bool { return path == nodeDefinitionPath || path == nodeResultsPath }

// templateName is the :name segment, unescaped once and checked.
func templateName(c echo.Context) (string, error) {
	seg := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/v1/job-definitions/")
	name, err := url.PathUnescape(seg)
	if err != nil {
		return "", badRequest("definition name in the path is not validly escaped")
	}
	if err := jobdef.CheckName(name); err != nil {
		return "", badRequest("%s", err.Error())
	}
	return name, nil
}

// publicURL is where nodes reach this server: the first audience.
func (s *Server) publicURL() string {
	if len(s.audiences) == 0 {
		return ""
	}
	return s.audiences[0].URI
}

func (s *Server) placeholder(name string, def []byte) json.RawMessage {
	var v struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(def, &v)
	return jobdef.Placeholder(s.publicURL(), name, v.Version)
}

func templateEvent(name string) string { return "job-definition:" + name }

func (s *Server) putTemplate(c echo.Context) error {
	name, err := templateName(c)
	if err != nil {
		return err
	}
	if s.publicURL() == "" {
		return notImplemented(errcode.JobLoginUnavailable, "job definitions need this server's PUBLIC_URL")
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return invalidDefinition(&jobdef.InvalidError{Path: "$input", Reason: "the body must be a job definition: one JSON object"})
	}
	if err := checkUniqueKeys(body); err != nil {
		return invalidDefinition(&jobdef.InvalidError{Path: "$input", Reason: "a key is named twice in one object"})
	}
	if err := jobdef.Validate(body); err != nil {
		var ie *jobdef.InvalidError
		if errors.As(err, &ie) {
			return invalidDefinition(ie)
		}
		return err
	}
	keys, err := jobdef.References(body)
	if err != nil {
		return badRequest("body is not valid JSON")
	}
	for _, k := range keys {
		if checkKey(k) != nil {
			return invalidDefinition(&jobdef.InvalidError{Path: "$input", Reason: fmt.Sprintf("%%%%secrets.%s%%%% names no possible secret key", k)})
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return badRequest("body is not valid JSON")
	}
	owner := claimsOf(c).Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	ev := s.event(c, audit.Write, http.StatusOK, templateEvent(name))
	vs, err := s.hist.Commit(ctx, storage.Commit{Owner: owner, By: writer(claimsOf(c)), Event: &ev, Keep: s.opts.MaxVersions,
		Changes: []storage.Change{{Name: templatePrefix + name, Value: compact.Bytes(), CAS: storage.NoCAS}}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": name, "version": vs[0], "secrets": nonNil(keys),
		"placeholder": s.placeholder(name, body)})
}

func invalidDefinition(ie *jobdef.InvalidError) error {
	e := badRequest("the job definition would be refused by the node at %s: %s", ie.Path, ie.Reason).withCode(errcode.InvalidJobDefinition)
	e.Path, e.Reason = ie.Path, ie.Reason
	return e
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func definitionNotFound(name string) error {
	return notFound("no job definition %s", name).withCode(errcode.DefinitionNotFound)
}

func (s *Server) getTemplate(c echo.Context) error {
	name, err := templateName(c)
	if err != nil {
		return err
	}
	owner := claimsOf(c).Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	sec, err := s.store.Get(ctx, owner, templatePrefix+name)
	if errors.Is(err, storage.ErrNotFound) {
		return definitionNotFound(name)
	}
	if err != nil {
		return err
	}
	keys, _ := jobdef.References(sec.Value)
	s.record(owner, s.event(c, audit.Read, http.StatusOK, templateEvent(name)))
	return c.JSON(http.StatusOK, templateBody{Name: name, Version: sec.Version, Definition: sec.Value, Secrets: nonNil(keys),
		Placeholder: s.placeholder(name, sec.Value), UpdatedAt: sec.UpdatedAt.UTC()})
}

func (s *Server) listTemplates(c echo.Context) error {
	owner := claimsOf(c).Address
	ctx, cancel := storeCtx(c)
	defer cancel()
	list, err := s.store.List(ctx, owner, templatePrefix)
	if _, err = s.countUnreadable(c, err); err != nil {
		return err
	}
	type item struct {
		Name      string    `json:"name"`
		Version   int64     `json:"version"`
		Secrets   []string  `json:"secrets"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	items := make([]item, 0, len(list))
	for _, sec := range list {
		if sec.Version == 0 { // List may leave it out
			if full, err := s.store.Get(ctx, owner, sec.Name); err == nil {
				sec = full
			}
		}
		keys, _ := jobdef.References(sec.Value)
		items = append(items, item{Name: strings.TrimPrefix(sec.Name, templatePrefix), Version: sec.Version,
			Secrets: nonNil(keys), UpdatedAt: sec.UpdatedAt.UTC()})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

func (s *Server) deleteTemplate(c echo.Context) error {
	name, err := templateName(c)
	if err != nil {
		return err
	}
	cl := claimsOf(c)
	ctx, cancel := storeCtx(c)
	defer cancel()
	ev := s.event(c, audit.Delete, http.StatusOK, templateEvent(name))
	vs, err := s.hist.Commit(ctx, storage.Commit{Owner: cl.Address, By: writer(cl), Event: &ev,
		Changes: []storage.Change{{Name: templatePrefix + name, Delete: true, CAS: storage.NoCAS}}})
	if err != nil {
		return err
	}
	if vs[0] == 0 {
		return definitionNotFound(name)
	}
	return c.JSON(http.StatusOK, map[string]any{"name": name, "deleted": true})
}

// nodeCall is what the node routes learn of a request before the checks
// that differ between them.
type nodeCall struct {
	job     solana.PublicKey
	jobStr  string
	header  nodeHeader
	hdrErr  string // why the header does not hold; "" when it does
	account solana.Job
	run     solana.Run
	running bool // state below done and a run account exists
}

// nodeHeader is today's node's Authorization J:S:T (@nosana/sdk 0.4.69
// AuthorizationManager.generateHeader(job, {includeTime: true})): S signs
// the UTF-8 bytes of J only; T is unsigned milliseconds.
type nodeHeader struct {
	job string
	sig []byte
	ms  int64
}

// parseNodeHeader returns why h is not a node header for job at now, or "".
func parseNodeHeader(h, job string, now time.Time, window time.Duration) (nodeHeader, string) {
	if h == "" {
		return nodeHeader{}, "no Authorization header"
	}
	parts := strings.Split(h, ":")
	if len(parts) != 3 {
		return nodeHeader{}, "Authorization is not J:S:T (a token is not accepted here)"
	}
	var nh nodeHeader
	nh.job = parts[0]
	if nh.job != job {
		return nh, "the header's job is not the job of the path"
	}
	sig, err := base58.Decode(parts[1])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nh, "the header's signature is not 64 bytes of base58"
	}
	nh.sig = sig
	if parts[2] == "" || len(parts[2]) > 16 || strings.Trim(parts[2], "0123456789") != "" {
		return nh, "the header's time is not decimal milliseconds"
	}
	nh.ms, _ = strconv.ParseInt(parts[2], 10, 64)
	skew := now.Sub(time.UnixMilli(nh.ms))
	if skew > window || -skew > window {
		return nh, fmt.Sprintf("the header's time is %s from the server's clock, outside the %s window", skew.Round(time.Second), window)
	}
	return nh, ""
}

// refusal is a node route's 403; reason goes to the project's audit log
// and the server log, never to the caller.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

var errJobRefused = forbidden("refused: this job may not fetch a definition or post a result here").withCode(errcode.JobRefused)

// readNodeCall parses the path and header and reads the job and its run
// from the chain. A refusal is returned as *refusal with whatever of the
// call is known (the project, when the job account was read).
func (s *Server) readNodeCall(c echo.Context) (*nodeCall, error) {
	nc := &nodeCall{jobStr: c.Param("job")}
	job, err := solana.PublicKeyFromBase58(nc.jobStr)
	if err != nil {
		return nil, &refusal{"the path's job is not a base58 address"}
	}
	nc.job = job
	nc.header, nc.hdrErr = parseNodeHeader(c.Request().Header.Get(echo.HeaderAuthorization), nc.jobStr, s.now(), s.loginWindow)
	if s.jobs == nil || s.jobs.Chain == nil || s.jobs.IPFS == nil {
		return nil, unavailable("job checks are not configured on this server", nil)
	}
	ctx := c.Request().Context()
	j, run, hasRun, err := s.runs.read(ctx, s.jobs.Chain, job)
	switch {
	case errors.Is(err, solana.ErrNotFound), errors.Is(err, solana.ErrInvalidAccount):
		return nil, &refusal{"not a job account of the jobs program"}
	case err != nil:
		return nil, unavailable("the Solana RPC did not answer; try again", err)
	}
	nc.account, nc.run = j, run
	nc.running = !j.Finished() && hasRun
	return nc, nil
}

// document fetches the job's on-chain definition, checked against its hash.
func (s *Server) document(ctx context.Context, j solana.Job) (ipfs.Document, error) {
	if j.IPFSJob == ([32]byte{}) {
		return nil, &refusal{"the job has no document"}
	}
	doc, err := s.jobs.IPFS.Fetch(ctx, ipfs.CID(j.IPFSJob))
	if errors.Is(err, ipfs.ErrNotFound) || errors.Is(err, ipfs.ErrInvalidDocument) {
		return nil, &refusal{"the job's document cannot be read: " + err.Error()}
	}
	if err != nil {
		return nil, unavailable("the IPFS gateway did not answer; try again", err)
	}
	return doc, nil
}

// namesThisURL reports whether the document's logistics.<which> endpoint,
// the job substituted, is this server's public URL plus the request's path
// and query, as the node sent them.
func (s *Server) namesThisURL(c echo.Context, doc ipfs.Document, which, job string) bool {
	ep, ok := jobdef.Endpoint(doc, which, job)
	if !ok {
		return false
	}
	uri := c.Request().RequestURI
	for _, a := range s.audiences {
		if ep == a.URI+uri {
			return true
		}
	}
	return false
}

// signedBy checks the node header's signature over J by node.
func signedBy(h nodeHeader, node solana.PublicKey) bool {
	return !auth.SmallOrderKey(node[:]) && ed25519.Verify(ed25519.PublicKey(node[:]), []byte(h.job), h.sig)
}

// refuse answers a node route's 403 and logs why: to the server log, and
// to the project's audit log when the job's project is known.
func (s *Server) refuse(c echo.Context, nc *nodeCall, subject string, r *refusal) error {
	args := []any{"request_id", requestID(c), "reason", r.reason, "route", c.Path()}
	if nc != nil {
		args = append(args, "job", nc.jobStr)
		if !nc.account.Project.IsZero() {
			e := s.event(c, audit.Denied, http.StatusForbidden, subject)
			e.Job, e.Reason = nc.jobStr, r.reason
			// The header names no signer: the actor is known only when
			// the job's node signed it.
			switch {
			case nc.running && nc.header.sig != nil && signedBy(nc.header, nc.run.Node):
				e.Actor = nc.run.Node.String()
			case nc.account.Finished() && nc.header.sig != nil && signedBy(nc.header, nc.account.Node):
				e.Actor = nc.account.Node.String()
			}
			s.record(nc.account.Project.String(), e)
		}
	}
	s.log.WarnContext(c.Request().Context(), "node route refused", args...)
	return errJobRefused
}

// nodeError turns a *refusal into the node's 403; other errors pass.
// subject is the first key of the refusal's audit event: the definition
// (job-definition:NAME) or the result's key.
func (s *Server) nodeError(c echo.Context, nc *nodeCall, subject string, err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return s.refuse(c, nc, subject, r)
	}
	return err
}

// fetchDefinition is GET /v1/jobs/:job/job-definition?name=NAME: the
// project's template NAME with its secrets filled in, for the node that
// runs the job right now and whose on-chain document names this URL.
func (s *Server) fetchDefinition(c echo.Context) error {
	name := ""
	if q, err := url.ParseQuery(c.Request().URL.RawQuery); err == nil && len(q["name"]) == 1 {
		name = q["name"][0]
	}
	subject := templateEvent(name)
	nc, err := s.readNodeCall(c)
	if err != nil {
		return s.nodeError(c, nc, subject, err)
	}
	refuse := func(reason string) error { return s.refuse(c, nc, subject, &refusal{reason}) }
	switch {
	case nc.hdrErr != "":
		return refuse(nc.hdrErr)
	case nc.account.Finished():
		return refuse(fmt.Sprintf("the job has ended (%s)", solana.StateName(nc.account.State)))
	case !nc.running:
		return refuse("the job is not running: no run account")
	case !signedBy(nc.header, nc.run.Node):
		return refuse("the signature is not the job's node's (" + nc.run.Node.String() + ")")
	case jobdef.CheckName(name) != nil:
		return refuse("the query names no definition (name=NAME once)")
	}
	project := nc.account.Project.String()
	ctx, cancel := storeCtx(c)
	defer cancel()
	tmpl, err := s.store.Get(ctx, project, templatePrefix+name)
	if errors.Is(err, storage.ErrNotFound) {
		return refuse("the job's project has no definition " + name)
	}
	if err != nil {
		return err
	}
	doc, err := s.document(ctx, nc.account)
	if err != nil {
		return s.nodeError(c, nc, subject, err)
	}
	if !s.namesThisURL(c, doc, "send", nc.jobStr) {
		return refuse("the job's document does not name this URL as its logistics.send endpoint")
	}
	keys, err := jobdef.References(tmpl.Value)
	if err != nil {
		return err
	}
	found, err := s.store.GetMany(ctx, project, keys)
	if err != nil {
		return err
	}
	values := make(map[string]json.RawMessage, len(found))
	for _, sec := range found {
		values[sec.Name] = sec.Value
	}
	out, missing, err := jobdef.Render(tmpl.Value, values)
	if err != nil {
		return err
	}
	node := nc.run.Node.String()
	defName := templateEvent(name) + "@v" + strconv.FormatInt(tmpl.Version, 10)
	if len(missing) > 0 {
		e := s.event(c, audit.Denied, http.StatusConflict, append([]string{defName, "unresolved"}, missing...)...)
		e.Actor, e.Job = node, nc.jobStr
		s.record(project, e)
		s.log.WarnContext(c.Request().Context(), "job definition unresolved", "request_id", requestID(c), "job", nc.jobStr, "missing", len(missing))
		return &apiError{Status: http.StatusConflict, Type: "ConflictError", Code: errcode.DefinitionUnresolved,
			Msg: "the job definition refers to secrets that do not exist; the project's audit log names them"}
	}
	n, err := s.store.Incr(ctx, "jobdef-fetch:"+nc.jobStr, 1, s.now().Add(boundTTL))
	if err != nil {
		return err
	}
	if n > int64(s.jobDefs.Fetches) {
		return refuse(fmt.Sprintf("past the fetch bound: %d fetches of this job were answered", s.jobDefs.Fetches))
	}
	e := s.event(c, audit.Fetch, http.StatusOK, append([]string{defName}, keys...)...)
	e.Actor, e.Job = node, nc.jobStr
	s.record(project, e)
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.JSONBlob(http.StatusOK, out)
}

// postResult is POST /v1/jobs/:job/results: the job's node stores the
// run's result in the project's namespace as jobs/<job>/results.
func (s *Server) postResult(c echo.Context) error {
	subject := "jobs/" + c.Param("job") + "/results"
	nc, err := s.readNodeCall(c)
	if err != nil {
		return s.nodeError(c, nc, subject, err)
	}
	refuse := func(reason string) error { return s.refuse(c, nc, subject, &refusal{reason}) }
	if nc.hdrErr != "" {
		return refuse(nc.hdrErr)
	}
	var node solana.PublicKey
	switch {
	case nc.running:
		node = nc.run.Node
	case nc.account.Finished():
		ended := time.Unix(nc.account.TimeEnd, 0)
		if nc.account.TimeEnd <= 0 || s.now().Sub(ended) > s.jobDefs.ResultWindow {
			return refuse(fmt.Sprintf("the job ended more than %s ago", s.jobDefs.ResultWindow))
		}
		node = nc.account.Node
	default:
		return refuse("the job is not running: no run account")
	}
	if !signedBy(nc.header, node) {
		return refuse("the signature is not the job's node's (" + node.String() + ")")
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var value bytes.Buffer
	if err := json.Compact(&value, body); err != nil {
		return badRequest("the result must be JSON")
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	doc, err := s.document(ctx, nc.account)
	if err != nil {
		return s.nodeError(c, nc, subject, err)
	}
	if !s.namesThisURL(c, doc, "receive", nc.jobStr) {
		return refuse("the job's document does not name this URL as its logistics.receive endpoint")
	}
	n, err := s.store.Incr(ctx, "jobdef-result:"+nc.jobStr, 1, s.now().Add(boundTTL))
	if err != nil {
		return err
	}
	if n > maxResultVersions {
		return refuse(fmt.Sprintf("past the result bound: %d results of this job were stored", maxResultVersions))
	}
	key := subject
	e := s.event(c, audit.Result, http.StatusOK, key)
	e.Actor, e.Job = node.String(), nc.jobStr
	vs, err := s.hist.Commit(ctx, storage.Commit{Owner: nc.account.Project.String(),
		By: storage.Writer{Address: node.String(), Job: nc.jobStr}, Event: &e, Keep: maxResultVersions,
		Changes: []storage.Change{{Name: key, Value: value.Bytes(), CAS: storage.NoCAS}}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"key": key, "version": vs[0]})
}

// runReader is what solana.Client offers beyond solana.Chain: the run
// account's address, and the job with a known run account in one call.
type runReader interface {
	RunAccountOf(ctx context.Context, job solana.PublicKey) (solana.PublicKey, solana.Run, error)
	JobAndRun(ctx context.Context, job, run solana.PublicKey) (solana.Job, solana.Run, bool, error)
}

// runCache remembers the run account of each running job, so that a
// later fetch reads the job and its run in one RPC call
// (getMultipleAccounts) instead of two (getAccountInfo, then
// getProgramAccounts). Every answer is read from the chain again; only the
// address is remembered.
type runCache struct {
	mu sync.Mutex
	m  map[solana.PublicKey]solana.PublicKey
}

const maxRunCache = 10000

func (rc *runCache) read(ctx context.Context, chain solana.Chain, job solana.PublicKey) (solana.Job, solana.Run, bool, error) {
	rr, ok := chain.(runReader)
	if !ok {
		j, err := chain.Job(ctx, job)
		if err != nil || j.Finished() {
			return j, solana.Run{}, false, err
		}
		r, err := chain.RunOf(ctx, job)
		if errors.Is(err, solana.ErrNotFound) {
			return j, solana.Run{}, false, nil
		}
		return j, r, err == nil, err
	}
	rc.mu.Lock()
	addr, known := rc.m[job]
	rc.mu.Unlock()
	if known {
		j, r, found, err := rr.JobAndRun(ctx, job, addr)
		if err != nil || found || j.Finished() {
			return j, r, found, err
		}
		rc.forget(job)
	}
	j, err := chain.Job(ctx, job)
	if err != nil || j.Finished() {
		return j, solana.Run{}, false, err
	}
	addr, r, err := rr.RunAccountOf(ctx, job)
	if errors.Is(err, solana.ErrNotFound) {
		return j, solana.Run{}, false, nil
	}
	if err != nil {
		return j, solana.Run{}, false, err
	}
	rc.mu.Lock()
	if rc.m == nil || len(rc.m) >= maxRunCache {
		rc.m = map[solana.PublicKey]solana.PublicKey{}
	}
	rc.m[job] = addr
	rc.mu.Unlock()
	return j, r, true, nil
}

func (rc *runCache) forget(job solana.PublicKey) {
	rc.mu.Lock()
	delete(rc.m, job)
	rc.mu.Unlock()
}
