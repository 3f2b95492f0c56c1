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

// Modes are the terminal and non-terminal runs of a table test.
var Modes = []struct {
	Name string
	TTY  bool
}{{"pipe", false}, {"tty", true}}

// HostileValues are secret values that try to break out of quoting, run a
// command when sourced, or act on a terminal.
var HostileValues = []string{
	"plain", "", "`touch PWNED`", "$(touch PWNED)", "${HOME}", "$HOME", "\\", "\\\\\"", "'", "\"", "'\\''",
	"a\nb", "a\r\nb", "\r\n", "\r", "\n", "end\\", "\\\n", "x\ty", "!!", "#not a comment", "  padded  ",
	"a'b\"c`d$e\\f", "\"; touch PWNED; \"", "'; touch PWNED; '", "\x1b]0;title\x07\x1b[2J", "\u202eevil\u200b",
	"\ufeffbom", "${A:-$(touch PWNED)}", "\\$(touch PWNED)", "\\`touch PWNED\\`", "é日本", "EOF\nB=2",
	"-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n", "\x01\x7f\u0085", "$'\\x41'",
}
