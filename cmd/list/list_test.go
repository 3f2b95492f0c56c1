package list_test

import (
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/list"
)

func TestListParsing(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want list.Options
	}{
		{"plain", nil, 0, list.Options{Output: "text"}},
		{"prefix", []string{"--prefix", "prod/"}, 0, list.Options{Prefix: "prod/", Output: "text"}},
		{"values json", []string{"--show-values", "-o", "json"}, 0, list.Options{ShowValues: true, Output: "json"}},
		{"env needs values", []string{"-o", "env"}, 2, list.Options{}},
		{"dotenv needs values", []string{"-o", "dotenv"}, 2, list.Options{}},
		{"env with values", []string{"-o", "env", "--show-values"}, 0, list.Options{ShowValues: true, Output: "env"}},
		{"argument", []string{"prod/"}, 2, list.Options{}},
		{"bad format", []string{"-o", "csv"}, 2, list.Options{}},
		{"prefix over the limit", []string{"--prefix", strings.Repeat("p", 513)}, 2, list.Options{}},
	}
	for _, tc := range cases {
		for _, m := range cmdtest.Modes {
			t.Run(tc.name+"/"+m.Name, func(t *testing.T) {
				f, _, _, _ := cmdtest.Factory(t, m.TTY, nil)
				var got *list.Options
				err := cmdtest.Run(list.NewCmdList(f, func(o *list.Options) error { got = o; return nil }), tc.args...)
				if code := cmdutil.ExitCode(err); code != tc.code {
					t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
				}
				if tc.code == 0 && (got.Prefix != tc.want.Prefix || got.ShowValues != tc.want.ShowValues || got.Output != tc.want.Output) {
					t.Errorf("options %+v", got)
				}
			})
		}
	}
}

func TestListOutput(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Put(cmdtest.Address, map[string]any{
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
	cases := []struct {
		name string
		args []string
	}{
		{"keys", nil},
		{"keys prefix", []string{"--prefix", "prod/"}},
		{"keys no match", []string{"--prefix", "nothing/"}},
		{"keys json", []string{"-o", "json", "--prefix", "prod/"}},
		{"keys yaml", []string{"-o", "yaml", "--prefix", "prod/"}},
		{"keys json empty", []string{"-o", "json", "--prefix", "nothing/"}},
		{"values", []string{"--show-values"}},
		{"values json", []string{"--show-values", "-o", "json"}},
		{"values yaml", []string{"--show-values", "-o", "yaml"}},
		{"values env", []string{"--show-values", "-o", "env"}},
		{"values dotenv", []string{"--show-values", "-o", "dotenv"}},
	}
	for _, tc := range cases {
		for _, m := range cmdtest.Modes {
			t.Run(tc.name+"/"+m.Name, func(t *testing.T) {
				f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
				err := cmdtest.Run(list.NewCmdList(f, nil), tc.args...)
				cmdtest.Golden(t, "list_"+tc.name+"_"+m.Name, cmdtest.Transcript(err, out.String(), errOut.String()))
			})
		}
	}
}

// TestListKeysWithoutValues: list without --show-values asks for keys only
// (GET /v1/secrets), so no value crosses the network; against a server
// that predates that route it falls back to the legacy listing.
func TestListKeysWithoutValues(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Put(cmdtest.Address, map[string]any{"a": "value-of-a", "b/c": "value-of-c"})

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
	old := clienttest.NewServer(t)
	old.Put(cmdtest.Address, map[string]any{"a": "value-of-a", "b/c": "value-of-c"})
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
	srv := clienttest.NewServer(t)
	srv.Put(cmdtest.Address, map[string]any{"PATH": "/srv/evil/bin", "NODE_OPTIONS": "--require /srv/evil.js", "DB": "ok", "path/x": "fine"})
	cases := []struct {
		name string
		args []string
	}{
		{"env", []string{"--show-values", "-o", "env"}},
		{"dotenv", []string{"--show-values", "-o", "dotenv"}},
		{"env allowed", []string{"--show-values", "-o", "env", "--allow-unsafe-names"}},
		{"env safe prefix", []string{"--show-values", "-o", "env", "--prefix", "path/"}},
	}
	for _, tc := range cases {
		for _, m := range cmdtest.Modes {
			t.Run(tc.name+"/"+m.Name, func(t *testing.T) {
				f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
				err := cmdtest.Run(list.NewCmdList(f, nil), tc.args...)
				cmdtest.Golden(t, "list_unsafe_"+tc.name+"_"+m.Name, cmdtest.Transcript(err, out.String(), errOut.String()))
			})
		}
	}
}
