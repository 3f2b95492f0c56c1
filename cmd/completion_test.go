package cmd_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// The scripts in completions/ ship in the release archives; they must be
// what the command tree generates. Regenerate them with scripts/completions.
func TestCompletionsUpToDate(t *testing.T) {
	for shell, file := range map[string]string{
		"bash":       "nosana-secrets.bash",
		"zsh":        "nosana-secrets.zsh",
		"fish":       "nosana-secrets.fish",
		"powershell": "nosana-secrets.ps1",
	} {
		t.Run(shell, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test(false)
			root := cmd.NewRoot(ios)
			root.SetArgs([]string{"completion", shell})
			if err := root.Execute(); err != nil {
				t.Fatalf("completion %s: %v %s", shell, err, errOut)
			}
			want, err := os.ReadFile(filepath.Join("..", "completions", file))
			if err != nil {
				t.Fatalf("%v; generate it with scripts/completions", err)
			}
			if out.String() != string(want) {
				t.Errorf("completions/%s is stale; regenerate it with scripts/completions", file)
			}
		})
	}
}
