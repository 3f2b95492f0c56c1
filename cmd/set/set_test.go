package set_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/set"
)

func TestSetParsing(t *testing.T) {
	cmdtest.ParseTable(t, set.NewCmdSet, []cmdtest.ParseCase[set.Options]{
		{Name: "one", Args: []string{"A=1"}, Want: set.Options{Pairs: []set.Pair{{Key: "A", Value: "1"}}}},
		{Name: "several", Args: []string{"A=1", "B=x=y", "C="}, Want: set.Options{Pairs: []set.Pair{{Key: "A", Value: "1"}, {Key: "B", Value: "x=y"}, {Key: "C", Value: ""}}}},
		{Name: "stdin", Args: []string{"K", "-"}, Want: set.Options{Pairs: []set.Pair{{Key: "K", FromStdin: true}}}},
		{Name: "stdin and pair", Args: []string{"A=1", "K", "-"}, Want: set.Options{Pairs: []set.Pair{{Key: "A", Value: "1"}, {Key: "K", FromStdin: true}}}},
		{Name: "literal dash", Args: []string{"K=-"}, Want: set.Options{Pairs: []set.Pair{{Key: "K", Value: "-"}}}},
		{Name: "from file only", Args: []string{"--from-file", ".env"}},
		{Name: "nothing", Code: 2},
		{Name: "key without value", Args: []string{"K"}, Code: 2},
		{Name: "dash alone", Args: []string{"-"}, Code: 2},
		{Name: "two stdins", Args: []string{"A", "-", "B", "-"}, Code: 2},
		{Name: "empty key", Args: []string{"=v"}, Code: 2},
		{Name: "duplicate", Args: []string{"A=1", "A=2"}, Code: 2},
		{Name: "stdin twice via file", Args: []string{"--from-file", "-", "K", "-"}, Code: 2},
		{Name: "bad output", Args: []string{"-o", "yaml", "A=1"}, Code: 2},
		{Name: "keypair from stdin", Args: []string{"--keypair", "-", "A=1"}, Want: set.Options{Pairs: []set.Pair{{Key: "A", Value: "1"}}}},
		{Name: "keypair and value from stdin", Args: []string{"--keypair", "-", "K", "-"}, Code: 2},
		{Name: "keypair and file from stdin", Args: []string{"--keypair", "-", "--from-file", "-"}, Code: 2},
	}, func(t *testing.T, got, want *set.Options) {
		if !reflect.DeepEqual(got.Pairs, want.Pairs) {
			t.Errorf("pairs %+v, want %+v", got.Pairs, want.Pairs)
		}
	})
}

const dotenv = `# app settings
export DB_URL="postgres://u:p@db/app"
API_KEY=k-123 # the key
PEM="-----BEGIN-----
abc
-----END-----"
`

func TestSetOutput(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(envFile, []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte("-----BEGIN-----\nabc\n-----END-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(t.TempDir(), "bad.env")
	if err := os.WriteFile(badFile, []byte("A=1\nA=2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		stdin string
		want  map[string]string // stored JSON by key; nil: nothing stored
	}{
		{"pairs", []string{"B=2", "A=1"}, "", map[string]string{"A": `"1"`, "B": `"2"`}},
		{"prefix", []string{"--prefix", "prod/", "A=1"}, "", map[string]string{"prod/A": `"1"`}},
		{"json", []string{"--json", "n=42", "o={\"a\": [1, 2]}", "s=\"text\"", "b=true"}, "", map[string]string{"n": "42", "o": `{"a":[1,2]}`, "s": `"text"`, "b": "true"}},
		{"json invalid", []string{"--json", "n=not-json-secret"}, "", nil},
		{"stdin keeps a file", []string{"K", "-"}, "line1\nline2\n\n", map[string]string{"K": `"line1\nline2\n\n"`}},
		{"stdin keeps a key file", []string{"K", "-"}, "-----BEGIN-----\nabc\n-----END-----\n", map[string]string{"K": `"-----BEGIN-----\nabc\n-----END-----\n"`}},
		{"stdin one line", []string{"K", "-"}, "v\n", map[string]string{"K": `"v"`}},
		{"stdin crlf", []string{"K", "-"}, "v\r\n", map[string]string{"K": `"v"`}},
		{"stdin not utf8", []string{"K", "-"}, "\xff\xfe\n", nil},
		{"stdin keep newline", []string{"--keep-newline", "K", "-"}, "v\n", map[string]string{"K": `"v\n"`}},
		{"stdin json", []string{"--json", "K", "-"}, "{\"a\":1}\n", map[string]string{"K": `{"a":1}`}},
		{"from file", []string{"--from-file", envFile}, "", map[string]string{"DB_URL": `"postgres://u:p@db/app"`, "API_KEY": `"k-123"`, "PEM": `"-----BEGIN-----\nabc\n-----END-----"`}},
		{"from stdin file", []string{"--from-file", "-", "--prefix", "x/"}, "A=1\nB='2'\n", map[string]string{"x/A": `"1"`, "x/B": `"2"`}},
		{"file and arg clash", []string{"--from-file", envFile, "API_KEY=other"}, "", nil},
		{"file missing", []string{"--from-file", "/nonexistent/.env"}, "", nil},
		{"file flag", []string{"PEM", "--file", keyFile}, "", map[string]string{"PEM": `"-----BEGIN-----\nabc\n-----END-----\n"`}},
		{"file flag two keys", []string{"A", "B", "--file", keyFile}, "", nil},
		{"file flag missing", []string{"A", "--file", "/nonexistent/key"}, "", nil},
		{"file duplicate", []string{"--from-file", badFile}, "", nil},
		{"json output", []string{"-o", "json", "B=2", "A=1"}, "", map[string]string{"A": `"1"`, "B": `"2"`}},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			if m.TTY && strings.HasPrefix(tc.name, "stdin") {
				t.Skip("on a terminal stdin is read as one hidden line (TestSetStdinTerminal)")
			}
			srv := clienttest.NewServer(t)
			f, in, out, errOut := cmdtest.Factory(t, m.TTY, srv)
			in.WriteString(tc.stdin)
			err := cmdtest.RunGolden(t, "set_"+tc.name+"_"+m.Name, set.NewCmdSet(f, nil), out, errOut, tc.args...)
			stored := map[string]string{}
			for k, v := range srv.Secrets(cmdtest.Address) {
				stored[k] = string(v)
			}
			want := tc.want
			if want == nil {
				want = map[string]string{}
			}
			if !reflect.DeepEqual(stored, want) {
				t.Errorf("stored %v, want %v", stored, want)
			}
			// No value ever shows up in what set prints.
			for _, v := range []string{"k-123", "postgres://", "not-json-secret", "line1", "abc"} {
				if strings.Contains(out.String()+errOut.String()+errString(err), v) {
					t.Errorf("output shows the value %q", v)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSetStdinTerminal(t *testing.T) {
	srv := clienttest.NewServer(t)
	f, in, out, errOut := cmdtest.Factory(t, true, srv)
	in.WriteString("typed-secret\n")
	if err := cmdtest.Run(set.NewCmdSet(f, nil), "K", "-"); err != nil {
		t.Fatal(err)
	}
	if got := string(srv.Secrets(cmdtest.Address)["K"]); got != `"typed-secret"` {
		t.Errorf("stored %s", got)
	}
	if strings.Contains(out.String()+errOut.String(), "typed-secret") {
		t.Error("the typed value was echoed")
	}
	if !strings.Contains(errOut.String(), "Value of K (typing is hidden): ") {
		t.Errorf("no prompt on stderr: %q", errOut.String())
	}
}

// A key the server would refuse is a usage error found before any request.
func TestSetKeyOverLimitSendsNothing(t *testing.T) {
	srv := clienttest.NewServer(t)
	for _, args := range [][]string{
		{strings.Repeat("k", 513) + "=v"},
		{"--prefix", strings.Repeat("p", 500), strings.Repeat("k", 13) + "=v"},
	} {
		f, _, _, _ := cmdtest.Factory(t, false, srv)
		err := cmdtest.Run(set.NewCmdSet(f, nil), args...)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "513 bytes; keys are at most 512") {
			t.Errorf("exit %d: %v", cmdutil.ExitCode(err), err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
