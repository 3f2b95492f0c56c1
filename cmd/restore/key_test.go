package restore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/restore"
)

// restore --as-of on a terminal shows what it would overwrite, delete and
// bring back, and changes nothing unless the answer is yes.
func TestRestoreAsOfConfirm(t *testing.T) {
	before := map[string]string{"A": `"a1"`, "B": `"b1"`}
	after := map[string]string{"A": `"a2"`, "C": `"c1"`}
	cases := []struct {
		name   string
		answer string
		args   []string
		want   map[string]string
	}{
		{"confirm", "y\n", nil, before},
		{"decline", "n\n", nil, after},
		{"no answer", "", nil, after},
		{"prefix", "y\n", []string{"--prefix", "C"}, map[string]string{"A": `"a2"`}},
		{"json", "y\n", []string{"-o", "json"}, before},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := clienttest.NewServer(t)
			f, in, out, errOut := cmdtest.Factory(t, true, srv)
			at := history(t, f)
			in.WriteString(tc.answer)
			args := append([]string{"--as-of", at.Format(time.RFC3339Nano)}, tc.args...)
			cmdtest.RunGolden(t, "asof_"+tc.name, restore.NewCmdRestoreKey(f, nil), out, errOut, args...)
			got := map[string]string{}
			for k, v := range srv.Secrets(cmdtest.Address) {
				got[k] = string(v)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("secrets %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

// history writes A and B, then, after the time it returns, a new A, B
// deleted and a new C.
func history(t *testing.T, f *cmdutil.Factory) time.Time {
	t.Helper()
	ctx := context.Background()
	c, err := f.Client("")
	if err != nil {
		t.Fatal(err)
	}
	put := func(k, v string) {
		if _, err := c.Put(ctx, k, json.RawMessage(v), client.NoCAS); err != nil {
			t.Fatal(err)
		}
	}
	put("A", `"a1"`)
	put("B", `"b1"`)
	time.Sleep(10 * time.Millisecond)
	at := time.Now()
	time.Sleep(10 * time.Millisecond)
	put("A", `"a2"`)
	if _, err := c.SoftDelete(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	put("C", `"c1"`)
	return at
}
