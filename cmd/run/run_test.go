package run_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/run"
)

// The test binary doubles as the command run runs: with RUN_HELPER set it
// prints the variables named in RUN_HELPER and exits with RUN_EXIT.
func TestMain(m *testing.M) {
	if names, ok := os.LookupEnv("RUN_HELPER"); ok {
		for _, n := range strings.Split(names, ",") {
			v, set := os.LookupEnv(n)
			fmt.Printf("%s set=%v %q\n", n, set, v)
		}
		fmt.Fprintln(os.Stderr, "helper stderr")
		code, _ := strconv.Atoi(os.Getenv("RUN_EXIT"))
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// testJob is a job address, for parsing only.
const testJob = "3uVFAWCy4rqq2QvXeT2xkefn1fZnsNQ45tcbpbjkPYp2"

func TestRunParsing(t *testing.T) {
	cmdtest.ParseTable(t, run.NewCmdRun, []cmdtest.ParseCase[run.Options]{
		{Name: "dashdash", Args: []string{"--", "env"}, Want: run.Options{Command: []string{"env"}}},
		{Name: "flags then command", Args: []string{"--prefix", "p/", "--override", "--job", testJob, "--", "sh", "-c", "x"}, Want: run.Options{Command: []string{"sh", "-c", "x"}, Prefix: "p/", Override: true, Job: testJob}},
		{Name: "command flags are its own", Args: []string{"ls", "-la", "--prefix", "x"}, Want: run.Options{Command: []string{"ls", "-la", "--prefix", "x"}}},
		{Name: "no command", Code: 2},
		{Name: "only dashdash", Args: []string{"--"}, Code: 2},
		{Name: "empty command", Args: []string{"--", ""}, Code: 2},
		{Name: "unknown flag", Args: []string{"--nope", "--", "env"}, Code: 2},
		{Name: "malformed job", Args: []string{"--job", "J0B", "--", "env"}, Code: 2},
	}, func(t *testing.T, got, want *run.Options) {
		if !reflect.DeepEqual(got.Command, want.Command) || got.Prefix != want.Prefix || got.Override != want.Override || got.Job != want.Job {
			t.Errorf("options %+v", got)
		}
	})
}

func secrets(kv map[string]string) client.Secrets {
	s := client.Secrets{}
	for k, v := range kv {
		s[k] = []byte(v)
	}
	return s
}

func TestBuildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/home/u", "API_KEY=from-env"}
	cases := []struct {
		name     string
		secrets  map[string]string
		prefix   string
		override bool
		want     []string // added or changed entries, sorted
		notes    []string
	}{
		{"valid names", map[string]string{"DB_URL": `"pg://x"`, "lower_case": `"v"`}, "", false,
			[]string{"DB_URL=pg://x", "lower_case=v"}, nil},
		{"mapped names", map[string]string{"db/password": `"p"`, "api-key.v2": `"k"`, "2fa": `"c"`, "ключ": `"u"`}, "", false,
			[]string{"_2fa=c", "____=u", "api_key_v2=k", "db_password=p"}, nil},
		{"json values", map[string]string{"N": `42`, "B": `true`, "O": `{"a": [1, 2]}`, "Z": `null`, "E": `""`}, "", false,
			[]string{"B=true", "E=", "N=42", `O={"a":[1,2]}`, "Z=null"}, nil},
		{"multi-line", map[string]string{"PEM": `"a\nb\n"`}, "", false, []string{"PEM=a\nb\n"}, nil},
		{"prefix stripped", map[string]string{"prod/DB_URL": `"x"`, "prod/": `"empty"`}, "prod/", false,
			[]string{"DB_URL=x"}, []string{`skipped "prod/": nothing is left of the key to name a variable`}},
		{"exact name wins", map[string]string{"a-b": `"mapped"`, "a_b": `"exact"`, "a.b": `"other"`}, "", false,
			[]string{"a_b=exact"}, []string{
				`keys "a_b" and "a-b" both map to $a_b; using "a_b"`,
				`keys "a_b" and "a.b" both map to $a_b; using "a_b"`}},
		{"first key wins", map[string]string{"x.y": `"1"`, "x-y": `"2"`}, "", false,
			[]string{"x_y=2"}, []string{`keys "x-y" and "x.y" both map to $x_y; using "x-y"`}},
		{"existing kept", map[string]string{"API_KEY": `"from-secret"`, "HOME": `"/x"`}, "", false,
			nil, []string{"kept $API_KEY, $HOME from the environment; the secrets of the same name were not applied (use --override to apply)"}},
		{"override", map[string]string{"API_KEY": `"from-secret"`}, "", true,
			[]string{"API_KEY=from-secret"}, []string{"--override: secrets replaced $API_KEY from the environment"}},
		{"nul dropped", map[string]string{"BAD": `"a\u0000b"`}, "", false,
			nil, []string{`skipped "BAD": its value holds a NUL byte, which no environment variable can`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, notes := run.BuildEnv(base, secrets(tc.secrets), run.EnvOptions{Prefix: tc.prefix, Override: tc.override})
			var changed []string
			for _, kv := range env {
				if !contains(base, kv) {
					changed = append(changed, kv)
				}
			}
			sort.Strings(changed)
			if !reflect.DeepEqual(changed, tc.want) {
				t.Errorf("env changes %q, want %q", changed, tc.want)
			}
			if !reflect.DeepEqual(notes, tc.notes) {
				t.Errorf("notes %q, want %q", notes, tc.notes)
			}
			for _, n := range notes {
				for _, v := range tc.secrets {
					if len(v) > 4 && strings.Contains(n, strings.Trim(v, `"`)) {
						t.Errorf("note %q shows a value", n)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRunCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("helper process expects a POSIX environment")
	}
	srv := cmdtest.ServerWith(t, map[string]any{"DB_URL": "pg://secret", "prod/TOKEN": "t-1", "KEPT": "from-secret", "db/password": "p"})
	self, _ := os.Executable()
	cases := []struct {
		name string
		args []string
		exit string
	}{
		{"values", []string{"--", self}, "0"},
		{"exit code passes", []string{"--", self}, "7"},
		{"prefix", []string{"--prefix", "prod/", "--", self}, "0"},
		{"override", []string{"--override", "--", self}, "0"},
		{"not found", []string{"--", "/nonexistent/cmd"}, "0"},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
			c := run.NewCmdRun(f, func(o *run.Options) error {
				o.Environ = func() []string {
					return []string{"PATH=" + os.Getenv("PATH"), "KEPT=from-env", "RUN_EXIT=" + tc.exit,
						"RUN_HELPER=DB_URL,TOKEN,prod_TOKEN,KEPT,db_password"}
				}
				return run.Run(context.Background(), o)
			})
			err := cmdtest.Run(c, tc.args...)
			got := strings.ReplaceAll(cmdtest.Transcript(err, out.String(), errOut.String()), self, "<SELF>")
			cmdtest.Golden(t, "run_"+tc.name+"_"+m.Name, got)
		})
	}
}

func TestBuildEnvUnsafe(t *testing.T) {
	hostile := map[string]string{
		"LD_PRELOAD": `"/tmp/evil.so"`, "BASH_ENV": `"/tmp/evil.sh"`, "NODE_OPTIONS": `"--require /tmp/evil.js"`,
		"PATH": `"/tmp/evil"`, "ps4": `"$(evil)"`, "GIT_SSH_COMMAND": `"evil"`, "PYTHONSTARTUP": `"/tmp/evil.py"`,
		"dyld/insert_libraries": `"/tmp/evil.dylib"`, "SAFE": `"ok"`,
	}
	base := []string{"HOME=/home/u"}
	env, notes := run.BuildEnv(base, secrets(hostile), run.EnvOptions{Override: true})
	if want := []string{"HOME=/home/u", "SAFE=ok"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	want := []string{
		"warning: skipped $BASH_ENV: it changes how programs load or start; add --allow-env BASH_ENV to set it",
		"warning: skipped $GIT_SSH_COMMAND: it changes how programs load or start; add --allow-env GIT_SSH_COMMAND to set it",
		"warning: skipped $LD_PRELOAD: it changes how programs load or start; add --allow-env LD_PRELOAD to set it",
		"warning: skipped $NODE_OPTIONS: it changes how programs load or start; add --allow-env NODE_OPTIONS to set it",
		"warning: skipped $PATH: it changes how programs load or start; add --allow-env PATH to set it",
		"warning: skipped $PYTHONSTARTUP: it changes how programs load or start; add --allow-env PYTHONSTARTUP to set it",
		`warning: skipped $dyld_insert_libraries (key "dyld/insert_libraries"): it changes how programs load or start; add --allow-env dyld_insert_libraries to set it`,
		"warning: skipped $ps4: it changes how programs load or start; add --allow-env ps4 to set it",
	}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("notes\n%s\nwant\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range notes {
		if strings.Contains(n, "evil") {
			t.Errorf("note %q shows a value", n)
		}
	}

	// Named with --allow-env, a variable is set; existing ones still need --override.
	env, notes = run.BuildEnv([]string{"PATH=/bin"}, secrets(map[string]string{"PATH": `"/opt/bin"`, "NODE_OPTIONS": `"--max-old-space-size=4096"`}),
		run.EnvOptions{Allow: []string{"NODE_OPTIONS", "PATH"}})
	if want := []string{"PATH=/bin", "NODE_OPTIONS=--max-old-space-size=4096"}; !reflect.DeepEqual(env, want) {
		t.Errorf("allowed: env %q, want %q", env, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "kept $PATH") {
		t.Errorf("allowed: notes %q", notes)
	}
}

// The real command never sees a loader or interpreter hook from a secret.
func TestRunUnsafeEnv(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("helper process expects a POSIX environment")
	}
	srv := cmdtest.ServerWith(t, map[string]any{"BASH_ENV": "/tmp/evil.sh", "NODE_OPTIONS": "--require /tmp/evil.js", "SAFE": "ok"})
	self, _ := os.Executable()
	for _, tc := range []struct {
		args []string
		out  string
		errs int
	}{
		{[]string{"--", self}, "BASH_ENV set=false \"\"\nNODE_OPTIONS set=false \"\"\nSAFE set=true \"ok\"\n", 2},
		{[]string{"--allow-env", "NODE_OPTIONS", "--", self}, "BASH_ENV set=false \"\"\nNODE_OPTIONS set=true \"--require /tmp/evil.js\"\nSAFE set=true \"ok\"\n", 1},
	} {
		f, _, out, errOut := cmdtest.Factory(t, false, srv)
		c := run.NewCmdRun(f, func(o *run.Options) error {
			o.Environ = func() []string { return []string{"RUN_HELPER=BASH_ENV,NODE_OPTIONS,SAFE"} }
			return run.Run(context.Background(), o)
		})
		if err := cmdtest.Run(c, tc.args...); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.out {
			t.Errorf("%q: child saw\n%s", tc.args, out)
		}
		if n := strings.Count(errOut.String(), "warning: skipped $"); n != tc.errs || strings.Contains(errOut.String(), "evil") {
			t.Errorf("%q: stderr %q, want %d warnings naming no value", tc.args, errOut, tc.errs)
		}
	}
}

func TestAllowEnvIsAName(t *testing.T) {
	_, err := cmdtest.Parse(t, false, run.NewCmdRun, "--allow-env", "A=B", "--", "env")
	cmdtest.WantExit(t, err, cmdutil.ExitUsage)
}
