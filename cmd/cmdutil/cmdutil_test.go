package cmdutil_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/vectors"
)

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"DB_URL":      "DB_URL",
		"lower":       "lower",
		"_x":          "_x",
		"db/password": "db_password",
		"api-key.v2":  "api_key_v2",
		"2fa":         "_2fa",
		"a b":         "a_b",
		"ключ":        "____",
		"":            "",
		"=":           "_",
	} {
		if got := cmdutil.EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
		if want != "" && !cmdutil.ValidEnvName(want) {
			t.Errorf("%q is not valid", want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs sh")
	}
	for _, v := range []string{"plain", "", "it's", `"dq"`, "$HOME `id` $(id)", "multi\nline\n", `back\slash`, "'''"} {
		out, err := exec.Command("sh", "-c", "X="+cmdutil.ShellQuote(v)+"; printf '%s' \"$X\"").Output()
		if err != nil || string(out) != v {
			t.Errorf("ShellQuote(%q) evaluates to %q (%v)", v, out, err)
		}
	}
}

func TestValueString(t *testing.T) {
	for raw, want := range map[string]string{
		`"text"`:           "text",
		`"a\nb"`:           "a\nb",
		`42`:               "42",
		`{ "a" : [1, 2] }`: `{"a":[1,2]}`,
		`null`:             "null",
		`true`:             "true",
	} {
		if got := cmdutil.ValueString(json.RawMessage(raw)); got != want {
			t.Errorf("ValueString(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestAPIError(t *testing.T) {
	he := func(status int, msg string) error {
		return &client.HTTPError{Status: status, Type: "X", Message: msg}
	}
	coded := func(status int, code, msg string) error {
		return &client.HTTPError{Status: status, Type: "X", Code: code, Message: msg}
	}
	login := func(err error) error { return &client.LoginError{Endpoint: "http://x", Err: err} }
	cases := []struct {
		name string
		err  error
		code int
		want string
	}{
		{"not found", he(404, "secret K not found"), 3, "secret K not found"},
		{"forbidden", he(403, "Not authenticated"), 4, "not allowed: Not authenticated"},
		{"bad request", he(400, "bad key"), 1, "bad key (400)"},
		{"too large", he(413, "too big"), 1, "request too large"},
		{"rate limited", &client.HTTPError{Status: 429, Message: "slow", RetryAfter: 3 * time.Second}, 1, "try again in 3s"},
		{"server", he(500, "internal server error"), 5, "server error (500"},
		{"unavailable", he(503, "storage down"), 5, "server error (503"},
		{"network", &client.NetworkError{Endpoint: "http://x", Err: errors.New("boom")}, 5, "cannot reach http://x"},
		{"login refused", &client.LoginError{Endpoint: "http://x", Err: he(400, "bad signature")}, 4, "sign-in at http://x refused (400): bad signature"},
		{"login old server", &client.LoginError{Endpoint: "http://x", Err: he(400, "message sign-in is not available yet; send timestamp")}, 4, "--legacy-login"},
		{"login clock", login(coded(400, "login_window", "sign-in message was issued at …")), 4, "clock"},
		{"login legacy only", login(coded(400, "siws_unavailable", "message sign-in is not configured")), 4, "--legacy-login"},
		{"login other server", login(coded(400, "wrong_audience", "sign-in message is for")), 4, "PUBLIC_URL"},
		{"login bad signature", login(coded(400, "invalid_signature", "signature does not match")), 4, "check --keypair"},
		{"login job refused", login(coded(400, "job_refused", "You did not claim this job:J")), 4, "this keypair is the job's node"},
		{"login coded rate limit", login(&client.HTTPError{Status: 429, Type: "X", Code: "rate_limited", Message: "slow", RetryAfter: 2 * time.Second}), 1, "try again in 2s"},
		{"job key not granted", coded(400, "key_not_granted", "secret key K not in job"), 4, "the job's JSON lists the keys it grants"},
		{"job ended", coded(403, "job_ended", "job has ended"), 4, "no longer runs on this node"},
		{"token expired", coded(403, "token_expired", "token expired"), 4, "nosana-secrets login"},
		{"quota", coded(413, "quota_exceeded", "over quota"), 1, "quota"},
		{"coded not found", coded(404, "not_found", "secret K not found"), 3, "secret K not found"},
		{"wrong path", coded(404, "no_route", "no such route"), 5, "base URL"},
		{"unknown code", coded(400, "from_the_future", "new"), 1, "new (400)"},
		{"wrong code words", coded(400, "invalid_request", "security uri job window"), 1, "security uri job window (400)"},
		{"not our server", &client.HTTPError{Status: 404, Message: "Not Found"}, 5, "not an answer of nosana-secrets"},
		{"not our server at login", login(&client.HTTPError{Status: 405, Message: "Method Not Allowed"}), 5, "not an answer of nosana-secrets"},
		{"login rate limited", &client.LoginError{Endpoint: "http://x", Err: &client.HTTPError{Status: 429, Message: "too many logins for this wallet", RetryAfter: 51 * time.Second}}, 1, "try again in 51s"},
		{"login server down", &client.LoginError{Endpoint: "http://x", Err: he(503, "down")}, 5, "server error"},
		{"login unreachable", &client.LoginError{Endpoint: "http://x", Err: &client.NetworkError{Endpoint: "http://x", Err: errors.New("refused")}}, 5, "cannot reach"},
		{"coded passes", cmdutil.Usagef("usage"), 2, "usage"},
		{"other", errors.New("plain"), 1, "plain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := cmdutil.APIError(tc.err)
			if code := cmdutil.ExitCode(err); code != tc.code {
				t.Errorf("exit %d, want %d (%v)", code, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "\n"); n > 1 {
				t.Errorf("message has %d lines", n+1)
			}
		})
	}
	if cmdutil.APIError(nil) != nil {
		t.Error("nil became an error")
	}
}

func TestTokenCache(t *testing.T) {
	v := vectors.Load(t)
	dir := filepath.Join(t.TempDir(), "cfg")
	c := &cmdutil.TokenCache{Dir: dir}
	tok, err := client.ParseToken(v.JWT.Token)
	if err != nil {
		t.Fatal(err)
	}
	addr := v.JWT.Claims.Address
	if c.Load("http://a", addr, "") != nil {
		t.Fatal("empty cache returned a token")
	}
	if err := c.Save("http://a", addr, "", tok); err != nil {
		t.Fatal(err)
	}
	if got := c.Load("http://a", addr, ""); got == nil || got.Raw != tok.Raw {
		t.Fatalf("Load = %v", got)
	}
	for _, other := range [][3]string{{"http://b", addr, ""}, {"http://a", "other", ""}, {"http://a", addr, "job"}} {
		if c.Load(other[0], other[1], other[2]) != nil {
			t.Errorf("token leaked to %v", other)
		}
	}
	if runtime.GOOS != "windows" {
		files, _ := filepath.Glob(filepath.Join(dir, "tokens", "*"))
		for _, f := range files {
			if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v", f, st.Mode().Perm())
			}
		}
		if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
			t.Errorf("dir mode %v", st.Mode().Perm())
		}
	}
	c.Remove("http://a", addr, "")
	if c.Load("http://a", addr, "") != nil {
		t.Error("Remove kept the token")
	}
}

func TestLooseKeypairWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	v := vectors.Load(t)
	b, _ := json.Marshal(v.Keypair.KeygenJSON)
	p := filepath.Join(t.TempDir(), "id.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tty     bool
		noColor bool
		color   bool
	}{{false, false, false}, {true, false, true}, {true, true, false}} {
		if tc.noColor {
			t.Setenv("NO_COLOR", "1")
		}
		ios, _, _, errOut := cmdutil.Test(tc.tty)
		f := &cmdutil.Factory{IOStreams: ios, Getenv: func(k string) string {
			if k == cmdutil.EnvKeypair {
				return p
			}
			return ""
		}}
		if _, err := f.Keypair(); err != nil {
			t.Fatal(err)
		}
		msg := errOut.String()
		if !strings.Contains(msg, "can be read by other users (mode 0644)") || !strings.Contains(msg, "chmod 600") {
			t.Errorf("warning %q", msg)
		}
		if strings.Contains(msg, "\x1b[") != tc.color {
			t.Errorf("tty=%v NO_COLOR=%v: colour %q", tc.tty, tc.noColor, msg)
		}
	}
}

// What -o env and -o dotenv print, bash and dash source to the exact
// bytes stored, and running nothing.
func TestEnvOutputSourcesExactly(t *testing.T) {
	secrets := client.Secrets{}
	names := make([]string, len(cmdtest.HostileValues))
	for i, v := range cmdtest.HostileValues {
		names[i] = fmt.Sprintf("V%02d", i)
		b, _ := json.Marshal(v)
		secrets[names[i]] = b
	}
	for _, sh := range []string{"bash", "dash"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			if ci.On() {
				t.Fatalf("%s is needed: %v", sh, err)
			}
			t.Skipf("no %s: %v", sh, err)
		}
		for _, format := range []string{cmdutil.FormatEnv, cmdutil.FormatDotenv} {
			t.Run(sh+"/"+format, func(t *testing.T) {
				dir := t.TempDir()
				var out, notes bytes.Buffer
				if err := cmdutil.WriteSecrets(&out, &notes, format, secrets, false); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(dir, "secrets."+format)
				if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
				script := "set -e; . " + file + "; printf '%s\\0'"
				for _, n := range names {
					script += ` "$` + n + `"`
				}
				cmd := exec.Command(path, "-c", script)
				cmd.Dir = dir
				cmd.Env = []string{"HOME=/home/u", "A=a"}
				got, err := cmd.Output()
				if err != nil {
					t.Fatalf("sourcing failed: %v\n%s", err, out.String())
				}
				vals := strings.Split(string(got), "\x00")
				if len(vals) != len(names)+1 {
					t.Fatalf("%d values, want %d", len(vals)-1, len(names))
				}
				for i, want := range cmdtest.HostileValues {
					if vals[i] != want {
						t.Errorf("$%s = %+q, want %+q", names[i], vals[i], want)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
					t.Error("sourcing ran a command")
				}
			})
		}
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain é 日本":                     "plain é 日本",
		"\x1b]0;title\x07\x1b[2J":        `\x1b]0;title\a\x1b[2J`,
		"\x1b]8;;http://x\x1b\\link":     `\x1b]8;;http://x\x1b\link`,
		"abc\u202edef\u2066\u200b\ufeff": `abc\u202edef\u2066\u200b\ufeff`,
		"a\nb\tc\rd":                     `a\nb\tc\rd`,
		"\u0085\u009b\x7f\u2028":         `\u0085\u009b\x7f\u2028`,
	} {
		if got := cmdutil.TerminalSafe(in, false); got != want {
			t.Errorf("TerminalSafe(%+q) = %s, want %s", in, got, want)
		}
	}
	if got := cmdutil.TerminalSafe("a\nb\tc\x1b", true); got != "a\nb\tc\\x1b" {
		t.Errorf("keepLines: %q", got)
	}
}

// The keypair comes from --keypair -, $NOSANA_SECRETS_KEYPAIR_JSON or a
// file; a key put where the file's path belongs is never shown.
func TestKeypairSources(t *testing.T) {
	v := vectors.Load(t)
	b, _ := json.Marshal(v.Keypair.KeygenJSON)
	file := filepath.Join(t.TempDir(), "id.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	short := strings.Repeat("1,", 63) + "1"
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		stdin string
		ok    bool
	}{
		{"stdin", nil, []string{"--keypair", "-"}, string(b) + "\n", true},
		{"env json", map[string]string{cmdutil.EnvKeypairJSON: string(b)}, nil, "", true},
		{"flag wins over env json", map[string]string{cmdutil.EnvKeypairJSON: "[1]"}, []string{"--keypair", file}, "", true},
		{"env json wins over env path", map[string]string{cmdutil.EnvKeypairJSON: string(b), cmdutil.EnvKeypair: "/nonexistent"}, nil, "", true},
		{"json in the path variable", map[string]string{cmdutil.EnvKeypair: string(b)}, nil, "", false},
		{"json in the flag", nil, []string{"--keypair", string(b)}, "", false},
		{"bad env json", map[string]string{cmdutil.EnvKeypairJSON: "[" + short + "]"}, nil, "", false},
		{"bad stdin", nil, []string{"--keypair", "-"}, string(b[:len(b)-1]), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ios, in, _, _ := cmdutil.Test(false)
			in.WriteString(tc.stdin)
			f := &cmdutil.Factory{IOStreams: ios, Getenv: func(k string) string { return tc.env[k] }}
			var kpErr error
			c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error {
				kp, err := f.Keypair()
				if err == nil && kp.Address() != v.Keypair.Address {
					t.Errorf("address %s", kp.Address())
				}
				kpErr = err
				return nil
			}}
			f.AddKeypairFlag(c)
			c.SetArgs(tc.args)
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			if (kpErr == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", kpErr, tc.ok)
			}
			if kpErr != nil {
				if cmdutil.ExitCode(kpErr) != cmdutil.ExitAuth {
					t.Errorf("exit %d", cmdutil.ExitCode(kpErr))
				}
				msg := fmt.Sprintf("%v %+v", kpErr, kpErr)
				if strings.Contains(msg, string(b[1:12])) || strings.Contains(msg, short[:12]) {
					t.Errorf("error shows the key: %s", msg)
				}
			}
		})
	}
}
