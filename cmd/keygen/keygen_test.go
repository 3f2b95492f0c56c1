package keygen_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/keygen"
	"github.com/nosana-ci/nosana-secrets/pkg/keypair"
)

var address = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{32,44}\n$`)

func TestKeygen(t *testing.T) {
	for _, m := range cmdtest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "new", "dir", "id.json")
			f, _, out, errOut := cmdtest.Factory(t, m.TTY, nil)
			err := cmdtest.Run(keygen.NewCmdKeygen(f, nil), "--keypair", p)
			if err != nil {
				t.Fatal(err)
			}
			if !address.MatchString(out.String()) {
				t.Fatalf("stdout %q is not an address", out)
			}
			kp, err := keypair.Load(p)
			if err != nil || kp.Address()+"\n" != out.String() {
				t.Fatalf("file: %v %v", kp, err)
			}
			cmdtest.Golden(t, "keygen_"+m.Name, regexp.MustCompile(`[1-9A-HJ-NP-Za-km-z]{32,44}\n`).ReplaceAllString(
				cmdtest.Transcript(nil, out.String(), errOut.String()), "<ADDRESS>\n"))

			// Again without --force: refused, file unchanged.
			before, _ := os.ReadFile(p)
			f2, _, out2, _ := cmdtest.Factory(t, m.TTY, nil)
			err = cmdtest.Run(keygen.NewCmdKeygen(f2, nil), "--keypair", p)
			if cmdutil.ExitCode(err) != 1 || !strings.Contains(err.Error(), "--force") || out2.Len() != 0 {
				t.Fatalf("overwrite: %v", err)
			}
			cmdtest.Golden(t, "keygen_exists_"+m.Name, cmdtest.Transcript(err, "", ""))
			after, _ := os.ReadFile(p)
			if string(before) != string(after) {
				t.Fatal("refused overwrite changed the file")
			}
			// With --force: replaced.
			f3, _, out3, _ := cmdtest.Factory(t, m.TTY, nil)
			if err := cmdtest.Run(keygen.NewCmdKeygen(f3, nil), "--keypair", p, "--force"); err != nil {
				t.Fatal(err)
			}
			if out3.String() == out.String() {
				t.Error("--force kept the old key")
			}
		})
	}
}

func TestKeygenEnvAndJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.json")
	f, _, out, _ := cmdtest.Factory(t, false, nil)
	f.Getenv = cmdtest.Env{cmdutil.EnvKeypair: p}.Get
	if err := cmdtest.Run(keygen.NewCmdKeygen(f, nil), "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var got struct{ Address, Path string }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Path != p {
		t.Fatalf("%s %v", out, err)
	}
	if strings.Contains(out.String(), "[") {
		t.Error("key bytes printed")
	}
}

func TestKeygenParsing(t *testing.T) {
	cmdtest.ParseTable(t, keygen.NewCmdKeygen, []cmdtest.ParseCase[keygen.Options]{
		{Name: "plain"},
		{Name: "force", Args: []string{"--force"}, Want: keygen.Options{Force: true}},
		{Name: "json", Args: []string{"-o", "json"}},
		{Name: "positional path", Args: []string{"file.json"}, Code: 2},
		{Name: "bad output", Args: []string{"-o", "yaml"}, Code: 2},
	}, func(t *testing.T, got, want *keygen.Options) {
		if got.Force != want.Force {
			t.Errorf("options %+v", got)
		}
	})
}
