package get_test

import (
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/get"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
)

func TestGetParsing(t *testing.T) {
	cmdtest.ParseTable(t, get.NewCmdGet, []cmdtest.ParseCase[get.Options]{
		{Name: "key", Args: []string{"K"}, Want: get.Options{Key: "K", Output: "text"}},
		{Name: "slash key", Args: []string{"a/b"}, Want: get.Options{Key: "a/b", Output: "text"}},
		{Name: "json", Args: []string{"-o", "json", "K"}, Want: get.Options{Key: "K", Output: "json"}},
		{Name: "yaml long", Args: []string{"--output=yaml", "K"}, Want: get.Options{Key: "K", Output: "yaml"}},
		{Name: "no key", Code: 2},
		{Name: "two keys", Args: []string{"A", "B"}, Code: 2},
		{Name: "empty key", Args: []string{""}, Code: 2},
		{Name: "key at the limit", Args: []string{strings.Repeat("k", 512)}, Want: get.Options{Key: strings.Repeat("k", 512), Output: "text"}},
		{Name: "key over the limit", Args: []string{strings.Repeat("k", 513)}, Code: 2},
		{Name: "key with NUL", Args: []string{"a\x00b"}, Code: 2},
		{Name: "bad format", Args: []string{"-o", "xml", "K"}, Code: 2},
		{Name: "unknown flag", Args: []string{"--nope", "K"}, Code: 2},
	}, func(t *testing.T, got, want *get.Options) {
		if got.Key != want.Key || got.Output != want.Output {
			t.Errorf("options %+v", got)
		}
	})
}

func TestGetOutput(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{
		"S":          "hunter2",
		"multiline":  "line1\nline2\n",
		"a/b":        "slash",
		"n":          42.5,
		"obj":        map[string]any{"user": "u", "list": []any{1, true, nil}},
		"empty":      "",
		"quote":      "it's \"quoted\" $HOME",
		"escapes":    "\x1b]0;title\x07\x1b[2J\u202eevil\nline 2",
		"PATH":       "/srv/evil/bin:/usr/bin",
		"ld.preload": "/srv/evil/hook.so",
	})
	cmdtest.GoldenCases(t, "get_", srv, get.NewCmdGet, []cmdtest.GoldenCase{
		{Name: "string", Args: []string{"S"}},
		{Name: "multiline", Args: []string{"multiline"}},
		{Name: "slash", Args: []string{"a/b"}},
		{Name: "number", Args: []string{"n"}},
		{Name: "object", Args: []string{"obj"}},
		{Name: "empty", Args: []string{"empty"}},
		{Name: "json string", Args: []string{"-o", "json", "S"}},
		{Name: "json object", Args: []string{"-o", "json", "obj"}},
		{Name: "yaml object", Args: []string{"-o", "yaml", "obj"}},
		{Name: "yaml multiline", Args: []string{"-o", "yaml", "multiline"}},
		{Name: "env", Args: []string{"-o", "env", "quote"}},
		{Name: "env slash key", Args: []string{"-o", "env", "a/b"}},
		{Name: "dotenv", Args: []string{"-o", "dotenv", "multiline"}},
		// run's refusal of dangerous names holds for -o env|dotenv too.
		{Name: "env unsafe", Args: []string{"-o", "env", "PATH"}},
		{Name: "dotenv unsafe key", Args: []string{"-o", "dotenv", "ld.preload"}},
		{Name: "env unsafe allowed", Args: []string{"-o", "env", "--allow-unsafe-names", "PATH"}},
		{Name: "text unsafe", Args: []string{"PATH"}}, // a value alone names no variable
		{Name: "missing", Args: []string{"nope"}},
		{Name: "escapes", Args: []string{"escapes"}}, // shown escaped on a terminal only
	})
}

// The one promise scripts rely on: a string value comes out byte for byte.
func TestGetRawString(t *testing.T) {
	srv := clienttest.NewServer(t)
	values := []string{"hunter2", "ends with newline\n", "  spaces  ", "ünïcödé", "tab\there", ""}
	for _, v := range values {
		srv.Put(cmdtest.Address, map[string]any{"K": v})
		f, _, out, errOut := cmdtest.Factory(t, false, srv)
		if err := cmdtest.Run(get.NewCmdGet(f, nil), "K"); err != nil {
			t.Fatal(err)
		}
		if out.String() != v || errOut.Len() != 0 {
			t.Errorf("value %q printed %q, stderr %q", v, out.String(), errOut.String())
		}
	}
}

func TestGetErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	cases := []struct {
		name string
		fail []clienttest.Failure
		code int
	}{
		{"server fault", []clienttest.Failure{{}, {Status: 500}}, cmdutil.ExitUnreachable},
		{"proxy down", []clienttest.Failure{{}, {Status: 502, Body: "<html>bad gateway</html>"}}, cmdutil.ExitUnreachable},
		{"login refused", []clienttest.Failure{{Status: 400, Body: `{"type":"ValidationError","message":"bad signature","code":"invalid_signature"}`}}, cmdutil.ExitAuth},
		{"forbidden after fresh login", []clienttest.Failure{{}, {Status: 403}}, cmdutil.ExitAuth},
		{"bad request", []clienttest.Failure{{}, {Status: 400, Body: `{"type":"ValidationError","message":"secret key is 600 bytes; the limit is 512"}`}}, cmdutil.ExitFailure},
		{"rate limited", []clienttest.Failure{{}, {Status: 429}}, cmdutil.ExitFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.Fail(tc.fail...)
			f, _, out, errOut := cmdtest.Factory(t, false, srv)
			err := cmdtest.Run(get.NewCmdGet(f, nil), "K")
			cmdtest.WantExit(t, err, tc.code)
			if out.Len() != 0 || errOut.Len() != 0 {
				t.Errorf("printed %q / %q", out, errOut)
			}
			cmdtest.Golden(t, "get_error_"+tc.name, cmdtest.Transcript(err, "", ""))
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		dead := clienttest.NewServer(t)
		dead.Close()
		f, _, _, _ := cmdtest.Factory(t, false, dead)
		err := cmdtest.Run(get.NewCmdGet(f, nil), "K")
		cmdtest.WantExit(t, err, cmdutil.ExitUnreachable)
		cmdtest.Golden(t, "get_error_unreachable", cmdtest.Transcript(err, "", ""))
	})
	t.Run("no keypair", func(t *testing.T) {
		f, _, _, _ := cmdtest.Factory(t, false, srv)
		err := cmdtest.Run(get.NewCmdGet(f, nil), "--keypair", "/nonexistent/id.json", "K")
		cmdtest.WantExit(t, err, cmdutil.ExitAuth)
		cmdtest.Golden(t, "get_error_no_keypair", cmdtest.Transcript(err, "", ""))
	})
}
