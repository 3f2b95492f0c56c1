package list_test

import (
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/list"
)

func TestListParsing(t *testing.T) {
	cmdtest.ParseTable(t, list.NewCmdList, []cmdtest.ParseCase[list.Options]{
		{Name: "plain", Want: list.Options{Output: "text"}},
		{Name: "prefix", Args: []string{"--prefix", "prod/"}, Want: list.Options{Prefix: "prod/", Output: "text"}},
		{Name: "values json", Args: []string{"--show-values", "-o", "json"}, Want: list.Options{ShowValues: true, Output: "json"}},
		{Name: "env needs values", Args: []string{"-o", "env"}, Code: 2},
		{Name: "dotenv needs values", Args: []string{"-o", "dotenv"}, Code: 2},
		{Name: "env with values", Args: []string{"-o", "env", "--show-values"}, Want: list.Options{ShowValues: true, Output: "env"}},
		{Name: "argument", Args: []string{"prod/"}, Code: 2},
		{Name: "bad format", Args: []string{"-o", "csv"}, Code: 2},
		{Name: "prefix over the limit", Args: []string{"--prefix", strings.Repeat("p", 513)}, Code: 2},
	}, func(t *testing.T, got, want *list.Options) {
		if got.Prefix != want.Prefix || got.ShowValues != want.ShowValues || got.Output != want.Output {
			t.Errorf("options %+v", got)
		}
	})
}

func TestListOutput(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{
		"DB_PASSWORD":   "hunter2",
		"prod/api-key":  "k-123",
		"prod/config":   map[string]any{"replicas": 3, "debug": false},
		"multi":         "line1\nline2",
		"9lives":        "cat",
		"quote":         "it's",
		"prod/api_key":  "collides with prod/api-key under run's mapping",
		"unicode/ключ":  "значение",
		"tab\tkey":      "v",
		"number":        1e21,
		"null":          nil,
		"empty":         "",
		"with$dollar":   "$HOME and `cmd`",
		"trailing-nl":   "value\n",
		"prod/list":     []any{"a", 1},
		"prod/nested/x": "deep",
	})
	cmdtest.GoldenCases(t, "list_", srv, list.NewCmdList, []cmdtest.GoldenCase{
		{Name: "keys"},
		{Name: "keys prefix", Args: []string{"--prefix", "prod/"}},
		{Name: "keys no match", Args: []string{"--prefix", "nothing/"}},
		{Name: "keys json", Args: []string{"-o", "json", "--prefix", "prod/"}},
		{Name: "keys yaml", Args: []string{"-o", "yaml", "--prefix", "prod/"}},
		{Name: "keys json empty", Args: []string{"-o", "json", "--prefix", "nothing/"}},
		{Name: "values", Args: []string{"--show-values"}},
		{Name: "values json", Args: []string{"--show-values", "-o", "json"}},
		{Name: "values yaml", Args: []string{"--show-values", "-o", "yaml"}},
		{Name: "values env", Args: []string{"--show-values", "-o", "env"}},
		{Name: "values dotenv", Args: []string{"--show-values", "-o", "dotenv"}},
	})
}

// TestListKeysWithoutValues: list without --show-values asks for keys only
// (GET /v1/secrets), so no value crosses the network; against a server
// that predates that route it falls back to the legacy listing.
func TestListKeysWithoutValues(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{"a": "value-of-a", "b/c": "value-of-c"})

	f, _, out, _ := cmdtest.Factory(t, false, srv)
	if err := cmdtest.Run(list.NewCmdList(f, nil)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nb/c\n" {
		t.Errorf("keys: %q", out.String())
	}
	for _, r := range srv.Requests() {
		if r.Method == "GET" && r.Path != "/v1/secrets" {
			t.Errorf("list asked %s %s; want only GET /v1/secrets", r.Method, r.Path)
		}
	}

	// An old server: the route is unknown (after the sign-in).
	old := cmdtest.ServerWith(t, map[string]any{"a": "value-of-a", "b/c": "value-of-c"})
	old.Fail(clienttest.Failure{}, clienttest.Failure{Status: 404, Body: "Cannot GET /v1/secrets"})
	f, _, out, errOut := cmdtest.Factory(t, false, old)
	if err := cmdtest.Run(list.NewCmdList(f, nil)); err != nil {
		t.Fatalf("against an old server: %v (%s)", err, errOut)
	}
	if out.String() != "a\nb/c\n" {
		t.Errorf("keys from an old server: %q", out.String())
	}
	var legacy bool
	for _, r := range old.Requests() {
		legacy = legacy || r.Method == "GET" && r.Path == "/secrets"
	}
	if !legacy {
		t.Error("no fallback to GET /secrets")
	}
}

// TestListUnsafeNames: list --show-values -o env|dotenv refuses, as run
// does, a secret named like PATH or LD_PRELOAD, unless told otherwise.
func TestListUnsafeNames(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{"PATH": "/srv/evil/bin", "NODE_OPTIONS": "--require /srv/evil.js", "DB": "ok", "path/x": "fine"})
	cmdtest.GoldenCases(t, "list_unsafe_", srv, list.NewCmdList, []cmdtest.GoldenCase{
		{Name: "env", Args: []string{"--show-values", "-o", "env"}},
		{Name: "dotenv", Args: []string{"--show-values", "-o", "dotenv"}},
		{Name: "env allowed", Args: []string{"--show-values", "-o", "env", "--allow-unsafe-names"}},
		{Name: "env safe prefix", Args: []string{"--show-values", "-o", "env", "--prefix", "path/"}},
	})
}
