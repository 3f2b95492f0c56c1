package login_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/get"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/login"
)

func TestLoginParsing(t *testing.T) {
	cmdtest.ParseTable(t, login.NewCmdLogin, []cmdtest.ParseCase[login.Options]{
		{Name: "plain"},
		{Name: "job", Args: []string{"--job", job1}, Want: login.Options{Job: job1}},
		{Name: "argument", Args: []string{"x"}, Code: 2},
		{Name: "malformed job", Args: []string{"--job", "JOB1"}, Code: 2},
		{Name: "short job", Args: []string{"--job", "11111111"}, Code: 2},
		{Name: "bad output", Args: []string{"-o", "env"}, Code: 2},
	}, func(t *testing.T, got, want *login.Options) {
		if got.Job != want.Job {
			t.Errorf("job %q", got.Job)
		}
	})
}

// Job and project addresses the test server grants.
const (
	job1     = "3uVFAWCy4rqq2QvXeT2xkefn1fZnsNQ45tcbpbjkPYp2"
	otherJob = "2ucLquf9L7Yd3QGC6dsorRmoZZt7v6SkKCFBkGSqWzoC"
	project  = "F8gR9Ecntg87p44Nf4eSa3rhTN2nfj635HfAhaf4vChx"
)

func TestLoginOutput(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Grant(job1, clienttest.Grant{Node: cmdtest.Address, UserAddress: project, Secrets: []string{"A", "B"}})
	srv.Grant(otherJob, clienttest.Grant{Node: project, UserAddress: project}) // run by another node
	old := clienttest.NewServer(t)
	old.DisableSIWS()
	cases := []struct {
		name string
		srv  *clienttest.Server
		args []string
	}{
		{"plain", srv, nil},
		{"json", srv, []string{"-o", "json"}},
		{"yaml", srv, []string{"-o", "yaml"}},
		{"job", srv, []string{"--job", job1}},
		{"job refused", srv, []string{"--job", otherJob}},
		{"old server", old, nil},
		{"old server legacy", old, []string{"--legacy-login"}},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			f, _, out, errOut := cmdtest.Factory(t, m.TTY, tc.srv)
			cmdtest.RunGolden(t, "login_"+tc.name+"_"+m.Name, login.NewCmdLogin(f, nil), out, errOut, tc.args...)
			if strings.Contains(out.String()+errOut.String(), "eyJ") {
				t.Error("the token was printed")
			}
		})
	}
}

// login caches the token (0600 in a 0700 directory) and the next command
// reuses it without signing in again.
func TestLoginCachesToken(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{"K": "v"})
	f, _, _, _ := cmdtest.Factory(t, false, srv)
	if err := cmdtest.Run(login.NewCmdLogin(f, nil)); err != nil {
		t.Fatal(err)
	}
	dir, _ := f.ConfigDir()
	files, _ := filepath.Glob(filepath.Join(dir, "tokens", "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{files[0]: 0o600, filepath.Dir(files[0]): 0o700, dir: 0o700} {
			if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
				t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
			}
		}
	}

	// getAgain runs get in a new process (a new factory) with the same
	// config dir, and returns what it printed.
	getAgain := func(args ...string) (string, error) {
		g, _, out, _ := cmdtest.Factory(t, false, srv)
		g.ConfigDir = f.ConfigDir
		err := cmdtest.Run(get.NewCmdGet(g, nil), args...)
		return out.String(), err
	}

	// A new process reuses it.
	if out, err := getAgain("K"); err != nil || out != "v" {
		t.Fatalf("get: %q %v", out, err)
	}
	if srv.Logins() != 1 {
		t.Errorf("%d sign-ins, want 1 (the cached token was not reused)", srv.Logins())
	}

	// A token the server no longer accepts is replaced after one 403.
	srv.RevokeTokens()
	waitNextSecond()
	if out, err := getAgain("K"); err != nil || out != "v" {
		t.Fatalf("get after revocation: %q %v", out, err)
	}
	if srv.Logins() != 2 {
		t.Errorf("%d sign-ins, want 2", srv.Logins())
	}

	// --no-cache neither reads nor writes it.
	if _, err := getAgain("--no-cache", "K"); err != nil {
		t.Fatal(err)
	}
	if srv.Logins() != 3 {
		t.Errorf("--no-cache reused the cache")
	}
}

func waitNextSecond() {
	// Tokens carry whole seconds: a token issued in the second of the
	// revocation counts as revoked.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}
