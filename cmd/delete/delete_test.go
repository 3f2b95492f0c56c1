package delete_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd/delete"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
)

func TestDeleteParsing(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		codePipe int
		codeTTY  int
		keys     []string
	}{
		{"yes", []string{"--yes", "A", "B"}, 0, 0, []string{"A", "B"}},
		{"short yes", []string{"-y", "A"}, 0, 0, []string{"A"}},
		{"duplicates folded", []string{"-y", "A", "A"}, 0, 0, []string{"A"}},
		{"no yes", []string{"A"}, 2, 0, []string{"A"}},
		{"no keys", []string{"--yes"}, 2, 2, nil},
		{"empty key", []string{"--yes", ""}, 2, 2, nil},
		{"key over the limit", []string{"--yes", "A", strings.Repeat("k", 513)}, 2, 2, nil},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			got, err := cmdtest.Parse(t, m.TTY, delete.NewCmdDelete, tc.args...)
			want := tc.codePipe
			if m.TTY {
				want = tc.codeTTY
			}
			if !cmdtest.WantExit(t, err, want) {
				t.FailNow()
			}
			if want == 0 && !reflect.DeepEqual(got.Keys, tc.keys) {
				t.Errorf("keys %v", got.Keys)
			}
		})
	}
}

func TestDeleteOutput(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		answer string
		left   int // secrets left of A, B, C
	}{
		{"yes", []string{"--yes", "A", "B"}, "", 1},
		{"absent key", []string{"--yes", "nope"}, "", 3},
		{"some absent", []string{"--yes", "A", "nope"}, "", 2},
		{"confirm only existing", []string{"A", "nope"}, "y\n", 2},
		{"confirm", []string{"A"}, "y\n", 2},
		{"confirm yes word", []string{"A", "B", "C"}, "YES\n", 0},
		{"decline", []string{"A"}, "n\n", 3},
		{"no answer", []string{"A"}, "", 3},
		{"no yes", []string{"A"}, "", 3},
		{"json", []string{"--yes", "-o", "json", "A", "nope"}, "", 2},
		{"json nothing", []string{"--yes", "-o", "json", "nope"}, "", 3},
	}
	for _, tc := range cases {
		cmdtest.InModes(t, tc.name, func(t *testing.T, m cmdtest.Mode) {
			srv := cmdtest.ServerWith(t, map[string]any{"A": "a", "B": "b", "C": "c"})
			f, in, out, errOut := cmdtest.Factory(t, m.TTY, srv)
			in.WriteString(tc.answer)
			cmdtest.RunGolden(t, "delete_"+tc.name+"_"+m.Name, delete.NewCmdDelete(f, nil), out, errOut, tc.args...)
			left := len(srv.Secrets(cmdtest.Address))
			if !m.TTY && tc.args[0] != "--yes" {
				if left != 3 || len(srv.Requests()) != 0 {
					t.Errorf("deleted without --yes off a terminal")
				}
				return
			}
			if left != tc.left {
				t.Errorf("%d secrets left, want %d", left, tc.left)
			}
			// Existence comes from metadata: no value is read.
			for _, r := range srv.Requests() {
				if r.Method == "GET" && (r.Path == "/secrets" || strings.HasPrefix(r.Path, "/secrets/") ||
					strings.HasPrefix(r.Path, "/v1/secrets/") && !strings.HasSuffix(r.Path, "/versions")) {
					t.Errorf("delete read a value: GET %s", r.Path)
				}
			}
		})
	}
}
