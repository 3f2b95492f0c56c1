package jobfetch_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/jobfetch"
)

func TestJobFetchParsing(t *testing.T) {
	cmdtest.ParseTable(t, jobfetch.NewCmdJobFetch, []cmdtest.ParseCase[jobfetch.Options]{
		{Name: "all", Args: []string{"--job", job1}, Want: jobfetch.Options{Job: job1, Keys: []string{}}},
		{Name: "keys", Args: []string{"--job", job1, "A", "B"}, Want: jobfetch.Options{Job: job1, Keys: []string{"A", "B"}}},
		{Name: "no job", Args: []string{"A"}, Code: 2},
		{Name: "empty key", Args: []string{"--job", job1, ""}, Code: 2},
		{Name: "malformed job", Args: []string{"--job", "not-an-address"}, Code: 2},
		{Name: "key over the limit", Args: []string{"--job", job1, strings.Repeat("k", 513)}, Code: 2},
	}, func(t *testing.T, got, want *jobfetch.Options) {
		if got.Job != want.Job || !reflect.DeepEqual(got.Keys, want.Keys) {
			t.Errorf("options %+v", got)
		}
	})
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
	cmdtest.GoldenCases(t, "jobfetch_", srv, jobfetch.NewCmdJobFetch, []cmdtest.GoldenCase{
		{Name: "all", Args: []string{"--job", job1}},
		{Name: "all json", Args: []string{"--job", job1, "-o", "json"}},
		{Name: "all env", Args: []string{"--job", job1, "-o", "env"}},
		{Name: "one raw", Args: []string{"--job", job1, "ssh-key"}},
		{Name: "two", Args: []string{"--job", job1, "TOKEN", "config"}},
		{Name: "not granted", Args: []string{"--job", job1, "NOT_GRANTED"}},
		{Name: "granted but missing", Args: []string{"--job", job1, "MISSING"}},
		{Name: "no grant list", Args: []string{"--job", emptyJob}},
		{Name: "not my job", Args: []string{"--job", otherJob}},
		{Name: "unsafe env", Args: []string{"--job", hostileJob, "-o", "env"}},
		{Name: "unsafe dotenv", Args: []string{"--job", hostileJob, "-o", "dotenv"}},
		{Name: "unsafe two env", Args: []string{"--job", hostileJob, "-o", "env", "TOKEN", "bash-env"}},
		{Name: "unsafe one env", Args: []string{"--job", hostileJob, "-o", "env", "PATH"}},
		{Name: "unsafe allowed", Args: []string{"--job", hostileJob, "-o", "env", "--allow-unsafe-names"}},
		{Name: "unsafe json", Args: []string{"--job", hostileJob, "-o", "json"}},
		{Name: "unsafe safe keys", Args: []string{"--job", hostileJob, "-o", "env", "TOKEN"}},
	})
}
