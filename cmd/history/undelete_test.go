package history_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/delete"
	"github.com/nosana-ci/nosana-secrets/cmd/history"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/set"
)

// undelete prints what it did in the format asked, like delete.
func TestUndeleteOutput(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		delete bool
	}{
		{"text", []string{"A"}, true},
		{"json", []string{"-o", "json", "A"}, true},
		{"yaml", []string{"-o", "yaml", "A"}, true},
		{"not deleted json", []string{"-o", "json", "A"}, false},
		{"bad format", []string{"-o", "env", "A"}, true},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			srv := clienttest.NewServer(t)
			f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
			if err := cmdtest.Run(set.NewCmdSet(f, nil), "A=a"); err != nil {
				t.Fatal(err)
			}
			if tc.delete {
				if err := cmdtest.Run(delete.NewCmdDelete(f, nil), "--yes", "A"); err != nil {
					t.Fatal(err)
				}
			}
			out.Reset()
			errOut.Reset()
			err := cmdtest.RunGolden(t, "undelete_"+tc.name+"_"+m.Name, history.NewCmdUndelete(f, nil), out, errOut, tc.args...)
			if _, ok := srv.Secrets(cmdtest.Address)["A"]; ok != (err == nil || !tc.delete) {
				t.Errorf("A present %v after %v", ok, err)
			}
		})
	}
}
