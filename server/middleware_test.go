package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/internal/jsonlog"
	"github.com/nosana-ci/nosana-secrets/internal/lockedio"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// logLines are the JSON log lines written to logs so far, decoded.
func logLines(t *testing.T, logs *lockedio.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRequestLog: one line an answer with the request's id (the one the
// answer carries), route, status, size and caller, at a level by status;
// a failure's cause on its line; a panic a JSON 500 whose id is logged;
// never a token or a value.
func TestRequestLog(t *testing.T) {
	ctx := context.Background()
	store, err := stack.Open(ctx, "memory://", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	const owner = "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"
	if err := store.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte(`"the-secret-value"`)}}); err != nil {
		t.Fatal(err)
	}
	tokens, _ := auth.NewTokens(bytes.Repeat([]byte{3}, 32), 0, nil)
	tok, _, _ := tokens.Issue(auth.Claims{Address: owner}, time.Time{})
	logs := lockedio.NewBuffer()
	s, err := New(Options{Store: store, Tokens: tokens, Logger: slog.New(jsonlog.New(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.echo.GET("/test/panic", func(echo.Context) error { panic("boom") })
	s.echo.GET("/test/fail", func(echo.Context) error { return errors.New("the store broke") })

	do := func(path, auth, id string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	ok := do("/secrets/k", "Bearer "+tok, "")
	missing := do("/secrets/nope", tok, "caller-id.1")
	noToken := do("/secrets", "", "")
	failed := do("/test/fail", "", "")
	panicked := do("/test/panic", "", "")

	if ok.Code != 200 || ok.Body.String() != `"the-secret-value"` || missing.Code != 404 || noToken.Code != 403 ||
		failed.Code != 500 || panicked.Code != 500 {
		t.Fatalf("answers %d %q, %d, %d, %d, %d", ok.Code, ok.Body, missing.Code, noToken.Code, failed.Code, panicked.Code)
	}
	if missing.Header().Get("X-Request-Id") != "caller-id.1" {
		t.Errorf("a caller's plain id is not kept: %q", missing.Header().Get("X-Request-Id"))
	}
	for _, rec := range []*httptest.ResponseRecorder{failed, panicked} {
		if b := rec.Body.String(); !strings.Contains(b, `"type":"InternalServerError"`) || strings.Contains(b, "boom") || strings.Contains(b, "broke") {
			t.Errorf("500 body %s", b)
		}
	}

	var requests []map[string]any
	var failure, panicLine map[string]any
	for _, l := range logLines(t, logs) {
		switch l["msg"] {
		case "request":
			requests = append(requests, l)
		case "request failed":
			failure = l
		case "panic while serving a request":
			panicLine = l
		}
	}
	want := []struct {
		rec     *httptest.ResponseRecorder
		level   string
		route   string
		status  float64
		address any
		err     any
	}{
		{ok, "INFO", "/secrets/:key", 200, owner, nil},
		{missing, "WARN", "/secrets/:key", 404, owner, nil},
		{noToken, "WARN", "/secrets", 403, nil, nil},
		{failed, "ERROR", "unmatched", 500, nil, "the store broke"},
	}
	if len(requests) != len(want) {
		t.Fatalf("%d request lines, want %d (the panic's has none): %v", len(requests), len(want), requests)
	}
	for i, w := range want {
		l := requests[i]
		if l["request_id"] != w.rec.Header().Get("X-Request-Id") || l["request_id"] == "" || l["level"] != w.level ||
			l["method"] != "GET" || l["status"] != w.status || l["bytes"] != float64(w.rec.Body.Len()) ||
			l["ip"] != "192.0.2.1" || l["address"] != w.address || l["error"] != w.err {
			t.Errorf("request line %d: %v", i, l)
		}
		if w.route != "unmatched" && l["route"] != w.route {
			t.Errorf("request line %d: route %v, want %s", i, l["route"], w.route)
		}
	}
	if failure == nil || failure["request_id"] != failed.Header().Get("X-Request-Id") || failure["error"] != "the store broke" {
		t.Errorf("failure line %v", failure)
	}
	if panicLine == nil || panicLine["request_id"] != panicked.Header().Get("X-Request-Id") || panicLine["request_id"] == "" {
		t.Errorf("panic line %v (answer id %q)", panicLine, panicked.Header().Get("X-Request-Id"))
	}
	all := logs.String()
	if strings.Contains(all, tok) || strings.Contains(all, "the-secret-value") || strings.Contains(all, "boom") {
		t.Errorf("a token, value or panic value in the logs:\n%s", all)
	}
}
