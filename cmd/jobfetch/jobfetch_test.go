package jobfetch_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/jobfetch"
)

func TestJobFetchParsing(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		keys []string
	}{
		{"all", []string{"--job", job1}, 0, []string{}},
		{"keys", []string{"--job", job1, "A", "B"}, 0, []string{"A", "B"}},
		{"no job", []string{"A"}, 2, nil},
		{"empty key", []string{"--job", job1, ""}, 2, nil},
		{"malformed job", []string{"--job", "not-an-address"}, 2, nil},
		{"key over the limit", []string{"--job", job1, strings.Repeat("k", 513)}, 2, nil},
	}
	for _, tc := range cases {
		for _, m := range cmdtest.Modes {
			t.Run(tc.name+"/"+m.Name, func(t *testing.T) {
				f, _, _, _ := cmdtest.Factory(t, m.TTY, nil)
				var got *jobfetch.Options
				err := cmdtest.Run(jobfetch.NewCmdJobFetch(f, func(o *jobfetch.Options) error { got = o; return nil }), tc.args...)
				if code := cmdutil.ExitCode(err); code != tc.code {
					t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
				}
				if tc.code == 0 && (got.Job != job1 || !reflect.DeepEqual(got.Keys, tc.keys)) {
					t.Errorf("options %+v", got)
				}
			})
		}
	}
}

// Job and project addresses the test server grants.
const (
	job1     = "3uVFAWCy4rqq2QvXeT2xkefn1fZnsNQ45tcbpbjkPYp2"
	emptyJob = "EjmyyF6rNd78TVTspLUV99UD7aBmTGeuRBMtWf3At67o"
	otherJob = "2ucLquf9L7Yd3QGC6dsorRmoZZt7v6SkKCFBkGSqWzoC"
	project  = "F8gR9Ecntg87p44Nf4eSa3rhTN2nfj635HfAhaf4vChx"

	hostileJob     = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
	hostileProject = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
)

func TestJobFetchOutput(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Put(project, map[string]any{"ssh-key": "-----BEGIN-----\nabc\n-----END-----\n", "TOKEN": "t-1", "config": map[string]any{"a": 1}, "NOT_GRANTED": "x"})
	srv.Grant(job1, clienttest.Grant{Node: cmdtest.Address, UserAddress: project, Secrets: []string{"ssh-key", "TOKEN", "config", "MISSING"}})
	srv.Grant(emptyJob, clienttest.Grant{Node: cmdtest.Address, UserAddress: project})
	srv.Grant(otherJob, clienttest.Grant{Node: project, UserAddress: project}) // run by another node
	// A project that sets the node's PATH and loader for whoever evals -o env.
	srv.Put(hostileProject, map[string]any{"PATH": "/srv/evil/bin:/usr/bin", "LD_PRELOAD": "/srv/evil/hook.so", "bash-env": "/srv/evil/rc", "TOKEN": "t-2"})
	srv.Grant(hostileJob, clienttest.Grant{Node: cmdtest.Address, UserAddress: hostileProject, Secrets: []string{"PATH", "LD_PRELOAD", "bash-env", "TOKEN"}})
	cases := []struct {
		name string
		args []string
	}{
		{"all", []string{"--job", job1}},
		{"all json", []string{"--job", job1, "-o", "json"}},
		{"all env", []string{"--job", job1, "-o", "env"}},
		{"one raw", []string{"--job", job1, "ssh-key"}},
		{"two", []string{"--job", job1, "TOKEN", "config"}},
		{"not granted", []string{"--job", job1, "NOT_GRANTED"}},
		{"granted but missing", []string{"--job", job1, "MISSING"}},
		{"no grant list", []string{"--job", emptyJob}},
		{"not my job", []string{"--job", otherJob}},
		{"unsafe env", []string{"--job", hostileJob, "-o", "env"}},
		{"unsafe dotenv", []string{"--job", hostileJob, "-o", "dotenv"}},
		{"unsafe two env", []string{"--job", hostileJob, "-o", "env", "TOKEN", "bash-env"}},
		{"unsafe one env", []string{"--job", hostileJob, "-o", "env", "PATH"}},
		{"unsafe allowed", []string{"--job", hostileJob, "-o", "env", "--allow-unsafe-names"}},
		{"unsafe json", []string{"--job", hostileJob, "-o", "json"}},
		{"unsafe safe keys", []string{"--job", hostileJob, "-o", "env", "TOKEN"}},
	}
	for _, tc := range cases {
		for _, m := range cmdtest.Modes {
			t.Run(tc.name+"/"+m.Name, func(t *testing.T) {
				f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
				err := cmdtest.Run(jobfetch.NewCmdJobFetch(f, nil), tc.args...)
				cmdtest.Golden(t, "jobfetch_"+tc.name+"_"+m.Name, cmdtest.Transcript(err, out.String(), errOut.String()))
			})
		}
	}
}
