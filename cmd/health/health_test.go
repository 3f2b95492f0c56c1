package health_test

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/health"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
)

func run(t *testing.T, env cmdtest.Env, args ...string) (code int, out string, err error) {
	t.Helper()
	f, _, stdout, stderr := cmdtest.Factory(t, false, nil)
	f.Getenv = env.Get
	err = cmdtest.Run(health.NewCmdHealth(f, nil), args...)
	if stderr.Len() != 0 {
		t.Errorf("stderr %q: health speaks on stdout only", stderr)
	}
	return cmdutil.ExitCode(err), stdout.String(), err
}

func oneLine(t *testing.T, out, prefix string) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, prefix) {
		t.Errorf("output %q: want one line starting %q", out, prefix)
	}
}

func TestHealthy(t *testing.T) {
	srv := clienttest.NewServer(t)
	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"--url", srv.URL}, "/readyz"},
		{[]string{"--url", srv.URL + "/"}, "/readyz"},
		{[]string{"--url", srv.URL, "--live"}, "/livez"},
	} {
		code, out, err := run(t, nil, tc.args...)
		if code != 0 || err != nil {
			t.Fatalf("%v: exit %d %v", tc.args, code, err)
		}
		oneLine(t, out, "healthy: "+srv.URL+tc.path+" answered 200")
		if got := srv.Requests(); got[len(got)-1].Path != tc.path {
			t.Errorf("%v probed %s, want %s", tc.args, got[len(got)-1].Path, tc.path)
		}
	}
}

// Without --url the probe goes where serve would listen by the same
// environment, so a container's HEALTHCHECK follows PORT or LISTEN.
func TestDefaultURLFollowsEnv(t *testing.T) {
	srv := clienttest.NewServer(t)
	u, _ := url.Parse(srv.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	for _, env := range []cmdtest.Env{
		{"PORT": port},
		{"LISTEN": "0.0.0.0:" + port},
		{"LISTEN": ":" + port, "PORT": "1"},
		{"LISTEN": "127.0.0.1:" + port},
	} {
		code, out, _ := run(t, env)
		if code != 0 {
			t.Errorf("env %v: exit %d, %q", env, code, out)
		}
	}
	// Nothing listens on port 1 of loopback.
	if code, out, _ := run(t, cmdtest.Env{"PORT": "1"}); code != 1 {
		t.Errorf("PORT=1: exit %d, %q", code, out)
	} else {
		oneLine(t, out, "unhealthy: http://127.0.0.1:1/readyz: ")
	}
}

func TestUnhealthy(t *testing.T) {
	srv := clienttest.NewServer(t)
	// The server's own answer while its store does not answer.
	srv.Fail(clienttest.Failure{Status: 503, Body: `{"status":"unavailable"}`})
	code, out, err := run(t, nil, "--url", srv.URL)
	if code != 1 || err == nil {
		t.Fatalf("503: exit %d %v", code, err)
	}
	oneLine(t, out, "unhealthy: "+srv.URL+"/readyz answered 503 Service Unavailable")

	// A server that accepts but never answers: the timeout ends the wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	code, out, _ = run(t, nil, "--url", "http://"+l.Addr().String(), "--timeout", "200ms")
	if code != 1 {
		t.Fatalf("silent server: exit %d", code)
	}
	oneLine(t, out, "unhealthy: http://"+l.Addr().String()+"/readyz: no answer in time")
}

func TestHealthUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "ftp://x"},
		{"--url", "127.0.0.1:4124"},
		{"--url", "http://"},
		{"--timeout", "0s"},
		{"extra"},
	} {
		code, out, err := run(t, nil, args...)
		if code != cmdutil.ExitUsage || out != "" || err == nil {
			t.Errorf("%v: exit %d, out %q, %v", args, code, out, err)
		}
	}
}
