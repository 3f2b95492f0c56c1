package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth/oidctest"
	"github.com/nosana-ci/nosana-secrets/server"
)

// The answers of the in-process server are checked against openapi.json
// with kin-openapi's openapi3filter: every test that builds its server
// with newEnv goes through checkAPI.

var (
	apiOnce   sync.Once
	apiDoc    *openapi3.T
	apiRouter routers.Router
	apiErr    error
)

func loadAPI(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	apiOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(server.OpenAPI())
		if err != nil {
			apiErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		if !doc.IsOpenAPI31OrLater() {
			apiErr = fmt.Errorf("openapi.json is OpenAPI %s, not 3.1", doc.OpenAPI)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			apiErr = fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
			return
		}
		apiDoc = doc
		apiRouter, apiErr = gorillamux.NewRouter(doc)
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiDoc, apiRouter
}

// apiSeen records, per operation, the statuses checkAPI validated.
type apiSeen struct {
	mu  sync.Mutex
	ops map[string][]int // "GET /secrets/{key}" → statuses
}

func (s *apiSeen) add(op string, status int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops == nil {
		s.ops = map[string][]int{}
	}
	s.ops[op] = append(s.ops[op], status)
}

// checkAPI wraps h: every answer is checked against openapi.json, and a
// mismatch fails t. CORS preflights, HEAD requests and the web console
// (/ui/: HTML and assets) are not API calls and pass unchecked.
func checkAPI(t *testing.T, h http.Handler, seen *apiSeen) http.Handler {
	loadAPI(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		req := r.Clone(r.Context())
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if r.Method == http.MethodOptions || r.Method == http.MethodHead ||
			r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") {
			return
		}
		op, err := apiMismatch(t, req, rec.Code, rec.Header(), rec.Body.Bytes())
		if err != nil {
			t.Errorf("%s %s answered %d %s, which openapi.json does not allow: %v",
				r.Method, r.URL.Path, rec.Code, rec.Body.Bytes(), err)
		}
		seen.add(op, rec.Code)
	})
}

// apiMismatch checks one answer and returns the operation it belongs to
// ("GET /secrets/{key}", or "unrouted").
func apiMismatch(t testing.TB, req *http.Request, status int, h http.Header, body []byte) (string, error) {
	doc, router := loadAPI(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		// Not a documented operation: only the generic answers the
		// document's description promises are allowed.
		schema := map[int]string{
			http.StatusNotFound:         "NotFoundError",
			http.StatusMethodNotAllowed: "MethodNotAllowed",
			http.StatusForbidden:        "ForbiddenError",
		}[status]
		if schema == "" || !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return "unrouted", fmt.Errorf("no operation in openapi.json (%v)", err)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			return "unrouted", fmt.Errorf("Content-Type %q", h.Get("Content-Type"))
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return "unrouted", err
		}
		return "unrouted", doc.Components.Schemas[schema].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
	}
	op := req.Method + " " + route.Path
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
		},
		Status:  status,
		Header:  h,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return op, openapi3filter.ValidateResponse(context.Background(), in)
}

// TestOpenAPIServed checks the document is served as it is embedded and
// is a valid OpenAPI 3.1 document.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/v1/openapi.json", "", nil)
	if r.status != 200 || string(r.body) != string(server.OpenAPI()) {
		t.Fatalf("GET /v1/openapi.json = %d, %d bytes", r.status, len(r.body))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	loadAPI(t)
}

// TestOpenAPICoversEveryRoute compares the routes the server registers
// with the operations the document describes, both ways.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, _ := loadAPI(t)
	e := newEnv(t, func(o *server.Options) { o.Console = true })
	var served []string
	for _, r := range e.routes() {
		if r.Path == "/ui" || strings.HasPrefix(r.Path, "/ui/") {
			continue // the web console: HTML and assets, not the API
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		served = append(served, r.Method+" "+strings.Join(segs, "/"))
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("the server answers %s, which openapi.json does not describe", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("openapi.json describes %s, which the server does not answer", op)
		}
	}
}

// TestOpenAPIEveryRoute drives every served operation to a success and,
// where it has one, a refusal, and checks each answer against the
// document — so no route goes unchecked even if no other test calls it.
func TestOpenAPIEveryRoute(t *testing.T) {
	iss := oidctest.New(t)
	e := newEnv(t, withIssuers(iss))
	w := authtest.NewWallet()
	owner := e.login(w)
	for _, c := range []struct {
		method, path, auth string
		body               any
	}{
		{"GET", "/", "", nil},
		{"GET", "/", "junk", nil},
		{"GET", "/health", "", nil},
		{"GET", "/health", "junk", nil},
		{"GET", "/livez", "", nil},
		{"GET", "/livez", "junk", nil},
		{"GET", "/readyz", "", nil},
		{"GET", "/readyz", "junk", nil},
		{"GET", "/metrics", "", nil},
		{"GET", "/metrics", "junk", nil},
		{"POST", "/login", "", e.legacyBody(authtest.NewWallet(), e.now.Unix())},
		{"POST", "/login", "", `{"address":"x"}`},
		{"POST", "/secrets", owner, `{"secrets":{"a":1,"b/c":{"x":[true,null]}}}`},
		{"POST", "/secrets", "", `{"secrets":{"a":1}}`},
		{"GET", "/secrets", owner, nil},
		{"GET", "/secrets?prefix=b", owner, nil},
		{"GET", "/secrets", "", nil},
		{"GET", "/secrets/", owner, nil},
		{"GET", "/secrets/", "", nil},
		{"GET", "/secrets/b%2Fc", owner, nil},
		{"GET", "/secrets/missing", owner, nil},
		{"DELETE", "/secrets", owner, `{"key":["a","b/c"]}`},
		{"DELETE", "/secrets", owner, `{"key":[]}`},
		{"GET", "/v1/openapi.json", "", nil},
		{"GET", "/v1/openapi.json", "junk", nil},
		{"GET", "/v1/whoami", owner, nil},
		{"GET", "/v1/whoami", "", nil},
		{"PUT", "/v1/secrets/v%2F1", owner, `{"value":{"a":[1,null]}}`},
		{"PUT", "/v1/secrets/v%2F1", owner, `{"value":2,"cas":1}`},
		{"PUT", "/v1/secrets/v%2F1", owner, `{"value":3,"cas":1}`},
		{"PUT", "/v1/secrets/gone", owner, `{"value":"x","cas":0}`},
		{"GET", "/v1/secrets", owner, nil},
		{"GET", "/v1/secrets?limit=1", owner, nil},
		{"GET", "/v1/secrets?limit=0", owner, nil},
		{"GET", "/v1/secrets/v%2F1", owner, nil},
		{"GET", "/v1/secrets/v%2F1?version=1", owner, nil},
		{"GET", "/v1/secrets/v%2F1?version=9", owner, nil},
		{"GET", "/v1/secrets/v%2F1/versions", owner, nil},
		{"GET", "/v1/secrets/nope/versions", owner, nil},
		{"DELETE", "/v1/secrets/gone", owner, nil},
		{"GET", "/v1/secrets/gone", owner, nil},
		{"DELETE", "/v1/secrets/gone", owner, nil},
		{"POST", "/v1/secrets/gone/restore", owner, `{"version":1}`},
		{"POST", "/v1/secrets/gone/restore", owner, `{"version":7}`},
		{"DELETE", "/v1/secrets/gone?destroy=true", owner, nil},
		{"PUT", "/v1/secret?key=.", owner, `{"value":"dot"}`},
		{"PUT", "/v1/secret", owner, `{"value":"no key"}`},
		{"GET", "/v1/secret?key=.", owner, nil},
		{"GET", "/v1/secret?key=..", owner, nil},
		{"GET", "/v1/secret/versions?key=.", owner, nil},
		{"GET", "/v1/secret/versions?key=.&key=..", owner, nil},
		{"POST", "/v1/secret/restore?key=.", owner, `{"version":1}`},
		{"POST", "/v1/secret/restore?key=.", owner, `{"version":0}`},
		{"DELETE", "/v1/secret?key=.", owner, nil},
		{"DELETE", "/v1/secret?key=..", owner, nil},
		{"POST", "/v1/restore", owner, `{"as_of":"2000-01-01T00:00:00Z","prefix":"zz/"}`},
		{"POST", "/v1/restore", owner, `{"prefix":"zz/"}`},
		{"GET", "/v1/audit", owner, nil},
		{"GET", "/v1/audit?limit=2", owner, nil},
		{"GET", "/v1/audit?since=yesterday", owner, nil},
		{"GET", "/v1/audit/key", "", nil},
		{"GET", "/v1/audit/key", "junk", nil},
		{"GET", "/no/such/route", "", nil},
		{"PATCH", "/secrets", owner, nil},
	} {
		e.do(c.method, c.path, c.auth, c.body)
	}
	// Access tokens and trusts.
	tok, id := e.mint(owner, "api", "", false)
	e.do("POST", "/v1/tokens", owner, `{"name":""}`)
	e.do("GET", "/v1/tokens", owner, nil)
	e.do("GET", "/v1/tokens", tok, nil)
	e.do("GET", "/v1/whoami", tok, nil)
	e.do("DELETE", "/v1/tokens/"+id, owner, nil)
	e.do("DELETE", "/v1/tokens/"+id, "", nil)
	trust := e.trust(owner, iss, map[string]string{"repository": "o/r"}, nil)
	e.do("POST", "/v1/trusts", owner, `{"name":"x","claims":{}}`)
	e.do("GET", "/v1/trusts", owner, nil)
	e.do("GET", "/v1/trusts", "", nil)
	e.exchange(w, iss.Sign("rsa-1", iss.GitHub("o/r", "refs/heads/main", testAudience.URI)))
	e.exchange(w, "junk")
	e.do("DELETE", "/v1/trusts/"+trust, owner, nil)
	e.do("DELETE", "/v1/trusts/"+trust, owner, nil)
	// The /v1/job routes: TestJobDefinitionOpenAPI, on a server with a chain.
	e.wantSuccessAndRefusal(t, func(path string) bool { return !strings.HasPrefix(path, "/v1/job") })
}

// TestOpenAPICheckCatchesDrift feeds the checker answers that differ from
// the document, so a check that passes everything cannot go unnoticed.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	get := httptest.NewRequest("GET", "/secrets/k", nil)
	login := httptest.NewRequest("POST", "/login", nil)
	whoami := httptest.NewRequest("GET", "/v1/whoami", nil)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   string
		want   string // in the checker's complaint
	}{
		{"legacy ValidationError without error", login, 400, jsonCT, `{"type":"ValidationError","message":"m"}`, "missing property 'error'"},
		{"extra field in an error", get, 404, jsonCT, `{"type":"NotFoundError","message":"m","detail":"x"}`, "'detail' not allowed"},
		{"wrong error type", get, 403, jsonCT, `{"type":"NotFoundError","message":"m"}`, "must be 'ForbiddenError'"},
		{"undocumented status", get, 418, jsonCT, `{"type":"ValidationError","error":"m","message":"m"}`, "status is not supported"},
		{"429 without Retry-After", get, 429, jsonCT, `{"type":"TooManyRequestsError","message":"m"}`, `"Retry-After" missing`},
		{"token missing", login, 200, jsonCT, `{}`, "missing property 'token'"},
		{"not JSON", get, 200, http.Header{"Content-Type": {"text/plain"}}, `hunter2`, "Content-Type"},
		{"whoami bad scope", whoami, 200, jsonCT, `{"address":"a","scope":"root","namespace":"a","expires_at":"2026-01-01T00:00:00Z"}`, "one of 'owner', 'job'"},
		{"unknown route answered 200", httptest.NewRequest("GET", "/nope", nil), 200, jsonCT, `{}`, "no operation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := apiMismatch(t, c.req, c.status, c.header, []byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%d %s: checker says %v, want %q", c.status, c.body, err, c.want)
			}
		})
	}
	if _, err := apiMismatch(t, get, 200, jsonCT, []byte(`{"any":"json"}`)); err != nil {
		t.Errorf("a stored value: %v", err)
	}
}

// wantSuccessAndRefusal fails t for every route of the router that
// selected picks (by its path) of which no success and no refusal was
// checked against openapi.json.
func (e *env) wantSuccessAndRefusal(t *testing.T, selected func(path string) bool) {
	t.Helper()
	params := strings.NewReplacer(":key", "{key}", ":id", "{id}", ":name", "{name}", ":job", "{job}")
	for _, r := range e.routes() {
		if !selected(r.Path) {
			continue
		}
		op := r.Method + " " + params.Replace(r.Path)
		st := e.api.ops[op]
		if !slices.ContainsFunc(st, func(s int) bool { return s < 300 }) ||
			!slices.ContainsFunc(st, func(s int) bool { return s >= 400 }) {
			t.Errorf("%s: checked answers %v, want a success and a refusal", op, st)
		}
	}
}

// routes lists what the server's router answers.
func (e *env) routes() []*echo.Route {
	return e.handler.(*echo.Echo).Routes()
}
