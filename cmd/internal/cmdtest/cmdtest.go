// Package cmdtest runs the client commands in tests: a factory wired to a
// fake API server and the test vectors' keypair, in-memory streams, and
// golden files with an -update flag.
package cmdtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Address is the address of the vectors' keypair that KeypairFile holds.
const Address = "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"

// KeypairFile writes the vectors' keypair to a 0600 file and returns its path.
func KeypairFile(t testing.TB) string {
	t.Helper()
	v := vectors.Load(t)
	b, _ := json.Marshal(v.Keypair.KeygenJSON)
	p := filepath.Join(t.TempDir(), "id.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ServerWith starts a fake API server in which the vectors' keypair
// (Address) holds secrets.
func ServerWith(tb testing.TB, secrets map[string]any) *clienttest.Server {
	tb.Helper()
	srv := clienttest.NewServer(tb)
	srv.Put(Address, secrets)
	return srv
}

// Env is a fake environment for Factory.Getenv.
type Env map[string]string

// Get reads e.
func (e Env) Get(k string) string { return e[k] }

// Factory returns a factory on in-memory streams (terminal or not) talking
// to srv (nil: none) with the vectors' keypair and a temporary token cache.
func Factory(t testing.TB, tty bool, srv *clienttest.Server) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test(tty)
	env := Env{cmdutil.EnvKeypair: KeypairFile(t)}
	if srv != nil {
		env[cmdutil.EnvEndpoint] = srv.URL
	}
	cfg := t.TempDir()
	f := &cmdutil.Factory{
		IOStreams: ios,
		Getenv:    env.Get,
		ConfigDir: func() (string, error) { return cfg, nil },
	}
	return f, in, out, errOut
}

// Run executes c with args and returns its error as Main would explain it
// (cmdutil.APIError).
func Run(c *cobra.Command, args ...string) error {
	if args == nil {
		args = []string{}
	}
	c.SetArgs(args)
	c.SetOut(&bytes.Buffer{})
	c.SetErr(&bytes.Buffer{})
	c.SilenceErrors = true
	c.SilenceUsage = true
	_, err := c.ExecuteC()
	return cmdutil.APIError(err)
}

var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<TIME>"},
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+`), "<ENDPOINT>"},
	{regexp.MustCompile(`/tmp/[^\s"']+`), "<TMP>"},
}

// Normalize replaces times, test server URLs and temporary paths.
func Normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}

// Golden compares got with testdata/<name>.golden, or rewrites the file
// when the test runs with -update.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", strings.NewReplacer("/", "_", " ", "_").Replace(name)+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the tests with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run with -update if the change is meant):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// Transcript renders a command's exit code, stdout and stderr for a golden
// file; output that does not end in a newline is marked, as diff does.
func Transcript(err error, stdout, stderr string) string {
	var b strings.Builder
	b.WriteString("# exit " + strconv.Itoa(cmdutil.ExitCode(err)) + "\n")
	if err != nil {
		b.WriteString("# error: " + err.Error() + "\n")
	}
	section := func(name, s string) {
		b.WriteString("-- " + name + " --\n")
		b.WriteString(s)
		if s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteString("\n\\ No newline at end\n")
		}
	}
	section("stdout", stdout)
	section("stderr", stderr)
	return Normalize(b.String())
}

// Mode is one way a table test runs a command: on a pipe or on a terminal.
type Mode struct {
	Name string
	TTY  bool
}

// Modes are the terminal and non-terminal runs of a table test.
var Modes = []Mode{{"pipe", false}, {"tty", true}}

// InModes runs fn in a subtest named name+"/"+mode for each of Modes.
func InModes(t *testing.T, name string, fn func(t *testing.T, m Mode)) {
	t.Helper()
	for _, m := range Modes {
		t.Run(name+"/"+m.Name, func(t *testing.T) { fn(t, m) })
	}
}

// NewCmd is the shape of a verb's constructor: NewCmdX(f, runF), where a
// nil runF runs the verb and another replaces its Run.
type NewCmd[O any] func(f *cmdutil.Factory, runF func(*O) error) *cobra.Command

// WantExit reports whether err gives the exit code want, and marks t
// failed (going on) when it does not.
func WantExit(t testing.TB, err error, want int) bool {
	t.Helper()
	if code := cmdutil.ExitCode(err); code != want {
		t.Errorf("exit %d (%v), want %d", code, err, want)
		return false
	}
	return true
}

// Parse builds the verb with a runF that only keeps its Options, on a
// Factory with no server (a terminal or not), and runs it with args. It
// returns those Options (nil when the command failed before its Run) and
// the error as Run returns it.
func Parse[O any](t testing.TB, tty bool, newCmd NewCmd[O], args ...string) (*O, error) {
	t.Helper()
	f, _, _, _ := Factory(t, tty, nil)
	var got *O
	err := Run(newCmd(f, func(o *O) error { got = o; return nil }), args...)
	return got, err
}

// ParseCase is a row of a parsing table: a command line, the exit code it
// must give and, when that is 0, the Options the verb must get (as far as
// the table's check compares them).
type ParseCase[O any] struct {
	Name string
	Args []string
	Code int
	Want O
}

// ParseTable runs each case with Parse on a pipe and on a terminal
// (InModes). A subtest stops when the exit code is not the case's; when
// it is 0, check compares the Options the verb got with the case's Want.
func ParseTable[O any](t *testing.T, newCmd NewCmd[O], cases []ParseCase[O], check func(t *testing.T, got, want *O)) {
	t.Helper()
	for _, tc := range cases {
		InModes(t, tc.Name, func(t *testing.T, m Mode) {
			got, err := Parse(t, m.TTY, newCmd, tc.Args...)
			if !WantExit(t, err, tc.Code) {
				t.FailNow()
			}
			if tc.Code == 0 {
				if got == nil {
					t.Fatal("exit 0 without running the verb")
				}
				check(t, got, &tc.Want)
			}
		})
	}
}

// RunGolden runs c with args and compares its transcript (the exit code
// and what it printed to out and errOut) with testdata/<name>.golden; it
// returns the error for the test's further checks.
func RunGolden(t testing.TB, name string, c *cobra.Command, out, errOut *bytes.Buffer, args ...string) error {
	t.Helper()
	err := Run(c, args...)
	Golden(t, name, Transcript(err, out.String(), errOut.String()))
	return err
}

// GoldenCase is a row of a golden table test: its name and the command line.
type GoldenCase struct {
	Name string
	Args []string
}

// GoldenCases runs each case on a pipe and on a terminal (InModes): the
// verb newCmd builds runs on a Factory talking to srv, and its transcript
// must match testdata/<prefix><name>_<mode>.golden.
func GoldenCases[O any](t *testing.T, prefix string, srv *clienttest.Server, newCmd NewCmd[O], cases []GoldenCase) {
	t.Helper()
	for _, tc := range cases {
		InModes(t, tc.Name, func(t *testing.T, m Mode) {
			f, _, out, errOut := Factory(t, m.TTY, srv)
			RunGolden(t, prefix+tc.Name+"_"+m.Name, newCmd(f, nil), out, errOut, tc.Args...)
		})
	}
}

// HostileValues are secret values that try to break out of quoting, run a
// command when sourced, or act on a terminal.
var HostileValues = []string{
	"plain", "", "`touch PWNED`", "$(touch PWNED)", "${HOME}", "$HOME", "\\", "\\\\\"", "'", "\"", "'\\''",
	"a\nb", "a\r\nb", "\r\n", "\r", "\n", "end\\", "\\\n", "x\ty", "!!", "#not a comment", "  padded  ",
	"a'b\"c`d$e\\f", "\"; touch PWNED; \"", "'; touch PWNED; '", "\x1b]0;title\x07\x1b[2J", "\u202eevil\u200b",
	"\ufeffbom", "${A:-$(touch PWNED)}", "\\$(touch PWNED)", "\\`touch PWNED\\`", "é日本", "EOF\nB=2",
	"-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n", "\x01\x7f\u0085", "$'\\x41'",
}
