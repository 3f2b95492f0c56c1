package cmd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWhoamiVerb asks the real server through the real binary who a fresh
// keypair is, in text and JSON, and that it fails cleanly with no server.
func TestWhoamiVerb(t *testing.T) {
	srv := startServer(t, nil)
	u := newUser(t, srv.URL)
	address := u.keygen()

	r := u.run("", "whoami")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) != 7 || lines[0] != "address:   "+address || lines[1] != "scope:     owner" ||
		lines[2] != "namespace: "+address || lines[3] != "usage:     0 of 10000 keys, 0 B of 64 MiB" ||
		!strings.HasPrefix(lines[4], "audit log: ") || !strings.HasSuffix(lines[4], " of 32 MiB") ||
		!strings.HasPrefix(lines[5], "expires:   ") {
		t.Fatalf("whoami: %+v", r)
	}

	r = u.run("", "whoami", "-o", "json")
	var w struct {
		Address, Scope, Namespace string
		ExpiresAt                 time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &w); err != nil || r.code != 0 || w.Address != address ||
		w.Scope != "owner" || w.Namespace != address || time.Until(w.ExpiresAt) < 50*time.Minute {
		t.Fatalf("whoami -o json: %+v (%v)", r, err)
	}
	if strings.Contains(r.stdout+r.stderr, "eyJ") {
		t.Error("whoami printed a token")
	}

	u.expect(2, "", "", "whoami", "extra")
	u.endpoint = "http://127.0.0.1:1"
	if r := u.run("", "whoami"); r.code != 5 || strings.Count(r.stderr, "\n") > 2 {
		t.Errorf("no server: %+v", r)
	}
}

// TestHistoryVerbs: versions, check-and-set, delete and undelete, restore
// and the audit log, through the real binary and server.
func TestHistoryVerbs(t *testing.T) {
	_, u := startOwner(t)
	u.expect(0, "A\n", "", "set", "A=one")
	u.expect(0, "A\n", "", "set", "A=two")
	u.expect(0, "one", "", "get", "A", "--version", "1")
	r := u.expect(1, "", "", "set", "--cas", "1", "A=three")
	if !strings.Contains(r.stderr, "version 2") || !strings.Contains(r.stderr, "nothing written") {
		t.Errorf("stale --cas: %q", r.stderr)
	}
	u.expect(0, "A\n", "", "set", "--cas", "2", "A=three")
	u.expect(2, "", "", "set", "--cas", "0", "A=x", "B=y")

	r = u.run("", "history", "A")
	// Off a terminal: one tab-separated line a version, no header.
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "3\t") {
		t.Fatalf("history: %+v", r)
	}
	u.expect(0, "", "", "delete", "--yes", "A")
	u.expect(3, "", "", "get", "A")
	u.expect(0, "A restored from version 3 as version 5\n", "", "undelete", "A")
	u.expect(0, "three", "", "get", "A")
	u.expect(1, "", "", "undelete", "A") // not deleted

	u.expect(0, "A restored from version 1 as version 6\n", "", "restore", "A", "--version", "1")
	u.expect(2, "", "", "restore", "A", "--version", "0")
	u.expect(2, "", "", "restore") // neither FILE, nor KEY --version, nor --as-of
	u.expect(2, "", "", "restore", "--as-of", "yesterday-ish")
	// Issue 21, finding 5: a key without --version says what was meant;
	// an as-of restore in a script needs --yes, like delete, and without
	// it changes nothing.
	if r := u.run("", "restore", "A"); r.code != 2 || !strings.Contains(r.stderr, "restore A --version N") {
		t.Errorf("restore KEY without --version: %+v", r)
	}
	if r := u.run("", "restore", "--as-of", "10d"); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("restore --as-of without --yes off a terminal: %+v", r)
	}
	u.expect(0, "one", "", "get", "A")
	r = u.run("", "restore", "--as-of", "10d", "--yes", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"action": "deleted"`) {
		t.Fatalf("restore --as-of before anything existed: %+v", r)
	}
	u.expect(3, "", "", "get", "A")
	u.expect(0, "A restored from version 6 as version 8\n", "", "undelete", "A")

	r = u.run("", "audit", "--key", "A")
	if r.code != 0 || !strings.Contains(r.stdout, "\twrite\t200\t") || !strings.Contains(r.stdout, "\trestore\t") {
		t.Fatalf("audit: %+v", r)
	}
	if strings.Contains(r.stdout, "three") {
		t.Error("a value in the audit output")
	}
	r = u.run("", "audit", "verify")
	head := regexp.MustCompile(`(?m)^head (\d+:[0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || head == nil {
		t.Fatalf("audit verify: %+v", r)
	}
	if r := u.run("", "audit", "verify", "--head", head[1]); r.code != 0 {
		t.Errorf("verify against its own head: %+v", r)
	}
	if r := u.run("", "audit", "verify", "--head", "99999:"+strings.Repeat("0", 64)); r.code == 0 || !strings.Contains(r.stderr, "removed") {
		t.Errorf("verify against a head the log does not reach: %+v", r)
	}

	u.expect(0, "", "", "delete", "--yes", "--destroy", "A")
	u.expect(3, "", "", "history", "A")
	u.expect(3, "", "", "undelete", "A")
}

// TestVersionFlag: --version answers as the version verb's first line.
func TestVersionFlag(t *testing.T) {
	u := newUser(t, "http://127.0.0.1:1")
	want := strings.SplitN(u.run("", "version").stdout, "\n", 2)[0] + "\n"
	if !strings.HasPrefix(want, "nosana-secrets ") {
		t.Fatalf("version: %q", want)
	}
	u.expect(0, want, "", "--version")
}

// TestWrongEndpoint: an endpoint that answers but is not this API's root
// exits 5 with a hint naming the endpoint to use (issue 21, finding 7).
func TestWrongEndpoint(t *testing.T) {
	srv := startServer(t, nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Welcome to nginx!</body></html>")
	}))
	defer html.Close()
	u := newUser(t, srv.URL)
	u.keygen()
	cases := []struct {
		name, endpoint string
		hint           []string
	}{
		{"a /v1 suffix", srv.URL + "/v1", []string{"use --endpoint " + srv.URL + " (without /v1)"}},
		{"https to plain HTTP", "https://" + host, []string{"speaks plain HTTP", "use http://" + host}},
		{"plain HTTP to HTTPS", strings.Replace(tlsSrv.URL, "https://", "http://", 1), []string{"speaks HTTPS", "use " + tlsSrv.URL}},
		{"another service", html.URL, []string{"not", "nosana-secrets"}},
	}
	for _, c := range cases {
		r := u.run("", "get", "--endpoint", c.endpoint, "DB_PASSWORD")
		if r.code != 5 {
			t.Errorf("%s: exit %d, want 5: %s", c.name, r.code, r.stderr)
		}
		for _, h := range c.hint {
			if !strings.Contains(r.stderr, h) {
				t.Errorf("%s: stderr %q lacks %q", c.name, r.stderr, h)
			}
		}
		if strings.Contains(r.stderr, "%2F") {
			t.Errorf("%s: the hint speaks of %%2F: %s", c.name, r.stderr)
		}
	}
}
