package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
)

func factory() *cmdutil.Factory {
	ios, _, _, _ := cmdutil.Test(false)
	return &cmdutil.Factory{IOStreams: ios, BindStore: func(*cobra.Command) func(context.Context) (*cmdutil.Store, error) {
		return func(context.Context) (*cmdutil.Store, error) { return nil, errors.New("not in this test") }
	}}
}

func TestFlags(t *testing.T) {
	t.Setenv(EnvFrom, "")
	for _, tc := range []struct {
		args  []string
		env   string
		want  MigrateOptions
		usage string
	}{
		{args: []string{"--from", "sqlite://old.sqlite"}, want: MigrateOptions{From: "sqlite://old.sqlite", Output: "text", Batch: 1000}},
		{args: []string{"--dry-run", "--overwrite", "-o", "json", "--batch", "10"}, env: "redis://h/1",
			want: MigrateOptions{From: "redis://h/1", DryRun: true, Overwrite: true, Output: "json", Batch: 10}},
		{args: nil, usage: "--from is required"},
		{args: []string{"--from", "x", "extra"}, usage: "takes no arguments"},
		{args: []string{"--from", "x", "--batch", "0"}, usage: "--batch"},
	} {
		t.Setenv(EnvFrom, tc.env)
		var got *MigrateOptions
		c := NewCmdMigrate(factory(), func(o *MigrateOptions) error { got = o; return nil })
		c.SetArgs(tc.args)
		c.SetFlagErrorFunc(cmdutil.FlagError)
		err := c.Execute()
		if tc.usage != "" {
			if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tc.usage) {
				t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.usage)
			}
			continue
		}
		if err != nil || got.From != tc.want.From || got.DryRun != tc.want.DryRun || got.Overwrite != tc.want.Overwrite ||
			got.Output != tc.want.Output || got.Batch != tc.want.Batch {
			t.Errorf("%v: %+v %v", tc.args, got, err)
		}
	}
}

func TestSummaryText(t *testing.T) {
	var b strings.Builder
	_ = writeSummary(&b, "text", migrate.Summary{Read: 3, Owners: 1, Imported: 1, Existing: 1, Refused: 1,
		Refusals: []migrate.Refusal{{Owner: "8Ggq", Name: strings.Repeat("n", 600), Reason: "too long"}}})
	out := b.String()
	for _, want := range []string{"secrets imported:", "skipped, already there:", "refused:", `8Ggq "nnnn`, "(600 bytes): too long"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
