package jobdef_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/jobdef"
)

const tmpl = `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","cmd":["echo","%%secrets.GREETING%%"],"env":{"TOKEN":"%%secrets.api/token%%"}}}]}`

func TestJobdefParsing(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		verb string
	}{
		{"put", []string{"put", "build", "def.json"}, 0, "put"},
		{"put one arg", []string{"put", "build"}, 2, ""},
		{"get", []string{"get", "a b"}, 0, "get"},
		{"name with slash", []string{"get", "a/b"}, 2, ""},
		{"list", []string{"list"}, 0, "list"},
		{"list extra", []string{"list", "x"}, 2, ""},
		{"delete without yes", []string{"delete", "a"}, 2, ""},
		{"delete", []string{"delete", "-y", "a"}, 0, "delete"},
		{"render", []string{"render", "a", "--show-values"}, 0, "render"},
		{"bad output", []string{"get", "a", "-o", "env"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cmdtest.Parse(t, false, jobdef.NewCmdJobdef, tc.args...)
			if !cmdtest.WantExit(t, err, tc.code) {
				t.FailNow()
			}
			if tc.code == 0 && got.Verb != tc.verb {
				t.Errorf("verb %q", got.Verb)
			}
		})
	}
}

func TestJobdefOutput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "def.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(tmpl), 0o600)
	os.WriteFile(bad, []byte(`{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","gpu":"yes"}}]}`), 0o600)
	srv := cmdtest.ServerWith(t, map[string]any{"GREETING": "hello", "api/token": "t0k-secret"})
	steps := []struct {
		name string
		args []string
	}{
		{"put", []string{"put", "build step", good}},
		{"put invalid", []string{"put", "broken", bad}},
		{"put placeholder out", []string{"put", "build step", good, "--placeholder-out", filepath.Join(dir, "placeholder.json")}},
		{"list", []string{"list"}},
		{"get", []string{"get", "build step"}},
		{"render masked", []string{"render", "build step"}},
		{"render values", []string{"render", "build step", "--show-values"}},
		{"get missing", []string{"get", "nope"}},
		{"delete", []string{"delete", "--yes", "build step"}},
		{"list empty", []string{"list", "-o", "json"}},
	}
	for _, s := range steps {
		f, _, out, errOut := cmdtest.Factory(t, false, srv)
		err := cmdtest.Run(jobdef.NewCmdJobdef(f, nil), s.args...)
		got := cmdtest.Transcript(err, out.String(), errOut.String())
		got = strings.ReplaceAll(got, dir, "<DIR>")
		cmdtest.Golden(t, "jobdef_"+s.name, got)
		if s.name == "render masked" && strings.Contains(got, "t0k-secret") {
			t.Error("render printed a value without --show-values")
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "placeholder.json")); err != nil || !strings.Contains(string(b), "/v1/jobs/%%global.job%%/job-definition?name=build%20step") {
		t.Errorf("placeholder file: %s %v", b, err)
	}
}

// A secret name with control characters is shown escaped by get and list,
// as every other verb shows a key name, never sent raw to the terminal.
func TestJobdefEscapesNames(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "def.json")
	evil := `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","env":{"X":"%%secrets.a\u001b[31mred%%"}}}]}`
	if err := os.WriteFile(def, []byte(evil), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := cmdtest.ServerWith(t, map[string]any{"a\x1b[31mred": "v"})
	for _, args := range [][]string{{"put", "evil", def}, {"list"}, {"get", "evil"}} {
		f, _, out, errOut := cmdtest.Factory(t, true, srv)
		err := cmdtest.Run(jobdef.NewCmdJobdef(f, nil), args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		if args[0] != "put" && (strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), "a")) {
			t.Errorf("%v printed %q", args, out.String())
		}
	}
}
