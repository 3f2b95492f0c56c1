package cmd_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Through the real binary: usage errors exit 2 before any request, and a
// server that is not nosana-secrets is named as such.
func TestExitCodesAndUsage(t *testing.T) {
	requests := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><h1>404 Not Found</h1></html>"))
	}))
	defer other.Close()
	u := newUser(t, other.URL)
	u.keygen()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lgin"}, 2, "Did you mean this? login"},
		{[]string{"completion", "tcsh"}, 2, `unknown command "tcsh"`},
		{[]string{"get", strings.Repeat("k", 513)}, 2, "keys are at most 512"},
		{[]string{"set", strings.Repeat("k", 600) + "=v"}, 2, "keys are at most 512"},
		{[]string{"job-fetch", "--job", "not-a-job"}, 2, "not a Solana address"},
		{[]string{"run", "--job", "0OIl", "--", "true"}, 2, "not a Solana address"},
		{[]string{"whoami", "extra"}, 2, `whoami takes no arguments, got "extra"`},
		{[]string{"login", "extra"}, 2, `login takes no arguments, got "extra"`},
		{[]string{"health", "extra"}, 2, `health takes no arguments, got "extra"`},
	} {
		r := u.run("", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%.40q: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	if requests != 0 {
		t.Errorf("usage errors sent %d requests", requests)
	}
	r := u.run("", "get", "K")
	if r.code != 5 || !strings.Contains(r.stderr, "not an answer of nosana-secrets") {
		t.Errorf("other service: exit %d, stderr %q", r.code, r.stderr)
	}
}

// What a server sends never acts on the terminal: escapes in errors and
// keys are shown, not obeyed.
func TestServerTextEscaped(t *testing.T) {
	const evil = "\x1b]0;pwned\x07\x1b[2J\x1b]8;;http://evil\x1b\\click\u202eevil\u200b"
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"type":"ValidationError","message":"` + strings.NewReplacer("\x1b", `\u001b`, "\x07", `\u0007`, `\`, `\\`).Replace(evil) + `","code":"invalid_signature"}`))
	}))
	defer hostile.Close()
	u := newUser(t, hostile.URL)
	u.keygen()
	r := u.run("", "get", "K")
	if r.code != 4 || strings.ContainsAny(r.stderr, "\x1b\x07\u202e\u200b") || !strings.Contains(r.stderr, `\x1b]0;pwned`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}

	_, u = startOwner(t)
	u.expect(0, "\"rtl\\u202eevil\\u200b\"\n", "\x1b[2J", "set", "rtl\u202eevil\u200b", "-")
	u.expect(0, "\"rtl\\u202eevil\\u200b\"\n", "", "list")
	u.expect(0, "\"rtl\\u202eevil\\u200b\"\t\"\\x1b[2J\"\n", "", "list", "--show-values")
}

// A keypair put where its path belongs is never printed; CI can hand the
// keypair over on stdin or in NOSANA_SECRETS_KEYPAIR_JSON.
func TestKeypairInCI(t *testing.T) {
	srv, u := startOwner(t)
	kp, err := os.ReadFile(filepath.Join(u.home, ".config", "solana", "id.json"))
	if err != nil {
		t.Fatal(err)
	}
	u.expect(0, "K\n", "v", "set", "K", "-")
	key := string(kp)
	leak := key[1:30]

	ci := newUser(t, srv.URL) // no keypair file
	ci.extra = []string{"NOSANA_SECRETS_KEYPAIR=" + key}
	r := ci.run("", "get", "K")
	if r.code != 4 || strings.Contains(r.stderr, leak) || !strings.Contains(r.stderr, "NOSANA_SECRETS_KEYPAIR_JSON") {
		t.Errorf("keypair JSON in the path variable: exit %d, stderr %q", r.code, r.stderr)
	}
	ci.extra = nil
	if r := ci.run("", "get", "--keypair", key, "K"); r.code != 4 || strings.Contains(r.stderr, leak) {
		t.Errorf("keypair JSON as --keypair: exit %d, stderr %q", r.code, r.stderr)
	}
	ci.expect(0, "v", key, "get", "--no-cache", "--keypair", "-", "K")
	ci.extra = []string{"NOSANA_SECRETS_KEYPAIR_JSON=" + key}
	ci.expect(0, "v", "", "get", "--no-cache", "K")
	ci.extra = []string{"NOSANA_SECRETS_KEYPAIR_JSON=" + strings.Replace(key, "[", "[300,", 1)}
	if r := ci.run("", "get", "--no-cache", "K"); r.code != 4 || strings.Contains(r.stderr, leak) {
		t.Errorf("bad NOSANA_SECRETS_KEYPAIR_JSON: exit %d, stderr %q", r.code, r.stderr)
	}
}
