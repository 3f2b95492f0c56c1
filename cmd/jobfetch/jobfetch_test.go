package jobfetch_test

import (
	"reflect"
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
		{"all", []string{"--job", "J"}, 0, []string{}},
		{"keys", []string{"--job", "J", "A", "B"}, 0, []string{"A", "B"}},
		{"no job", []string{"A"}, 2, nil},
		{"empty key", []string{"--job", "J", ""}, 2, nil},
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
				if tc.code == 0 && (got.Job != "J" || !reflect.DeepEqual(got.Keys, tc.keys)) {
					t.Errorf("options %+v", got)
				}
			})
		}
	}
}

func TestJobFetchOutput(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Put("PROJECT", map[string]any{"ssh-key": "-----BEGIN-----\nabc\n-----END-----\n", "TOKEN": "t-1", "config": map[string]any{"a": 1}, "NOT_GRANTED": "x"})
	srv.Grant("JOB1", clienttest.Grant{Node: cmdtest.Address, UserAddress: "PROJECT", Secrets: []string{"ssh-key", "TOKEN", "config", "MISSING"}})
	srv.Grant("EMPTY", clienttest.Grant{Node: cmdtest.Address, UserAddress: "PROJECT"})
	cases := []struct {
		name string
		args []string
	}{
		{"all", []string{"--job", "JOB1"}},
		{"all json", []string{"--job", "JOB1", "-o", "json"}},
		{"all env", []string{"--job", "JOB1", "-o", "env"}},
		{"one raw", []string{"--job", "JOB1", "ssh-key"}},
		{"two", []string{"--job", "JOB1", "TOKEN", "config"}},
		{"not granted", []string{"--job", "JOB1", "NOT_GRANTED"}},
		{"granted but missing", []string{"--job", "JOB1", "MISSING"}},
		{"no grant list", []string{"--job", "EMPTY"}},
		{"not my job", []string{"--job", "JOB2"}},
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
