// Package delete is `nosana-secrets delete`.
package delete

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags and arguments of delete.
type Options struct {
	cmdutil.ClientOptions
	Endpoint func() string

	Keys    []string
	Yes     bool
	Destroy bool
	Output  string
}

// NewCmdDelete builds the command; runF replaces the work in tests.
func NewCmdDelete(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions(), Endpoint: f.Endpoint}
	c := cmdutil.Verb(&cobra.Command{
		Use:     "delete KEY… [--yes]",
		Aliases: []string{"rm"},
		Short:   "Delete secrets",
		Long: `Delete secrets by key. Keys that do not exist are ignored; you are told on
stderr which existed (only those are asked about), and -o json prints
{"deleted": […], "absent": […]} on stdout. Whether a key exists is asked of
its metadata: no value is read.

A deleted secret keeps its history on servers that keep versions: bring it
back with undelete KEY (or restore KEY --version N). --destroy removes every
version for good instead.

On a terminal you are asked to confirm unless --yes is given. When stdin is
not a terminal (scripts, CI) --yes is required, and without it nothing is
deleted (exit code 2).`,
		Example: `  nosana-secrets delete OLD_TOKEN
  nosana-secrets delete --yes prod/A prod/B`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		if len(args) == 0 {
			return cmdutil.Usagef("name at least one KEY to delete\nRun 'nosana-secrets delete --help' for usage.")
		}
		seen := map[string]bool{}
		for _, k := range args {
			if err := cmdutil.CheckKey("KEY", k); err != nil {
				return err
			}
			if !seen[k] {
				seen[k] = true
				opts.Keys = append(opts.Keys, k)
			}
		}
		if !opts.Yes && !opts.IO.IsStdinTTY() {
			return cmdutil.Usagef("refusing to delete without --yes: stdin is not a terminal to confirm on\nadd --yes to delete %s", strings.Join(opts.Keys, " "))
		}
		return nil
	})
	c.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking")
	c.Flags().BoolVar(&opts.Destroy, "destroy", false, "remove every version for good (no undelete)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	return c
}

// Run asks (unless --yes), deletes, and says which of the keys existed.
// The legacy DELETE answers the same whether a key existed or not, so each
// key is looked up first, by its metadata (never its value); every key
// asked for is deleted all the same, in case one appears in between.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	var existed, absent []string
	for _, k := range opts.Keys {
		var err error
		exists := true
		if opts.Destroy { // a deleted key still has versions to destroy
			if _, err = c.Versions(ctx, k); client.IsNotFound(err) {
				exists, err = false, nil
			}
		} else {
			exists, err = c.KeyExists(ctx, k)
		}
		switch {
		case err != nil:
			return err
		case exists:
			existed = append(existed, k)
		default:
			absent = append(absent, k)
		}
	}
	if len(existed) == 0 {
		opts.IO.Infof("Nothing to delete: no secret %s.", strings.Join(absent, ", "))
		return report(opts, existed, absent)
	}
	if !opts.Yes {
		what := "secret " + existed[0]
		if len(existed) > 1 {
			what = "secrets " + strings.Join(existed, ", ")
		}
		verb := "Delete "
		if opts.Destroy {
			verb = "Destroy every version of "
		}
		if err := opts.IO.ConfirmOr(verb+what+" at "+opts.Endpoint()+"?", "nothing deleted"); err != nil {
			return err
		}
	}
	if opts.Destroy {
		for _, k := range opts.Keys {
			if err := c.Destroy(ctx, k); err != nil && !client.IsNotFound(err) {
				return err
			}
		}
	} else if err := c.Delete(ctx, opts.Keys...); err != nil {
		return err
	}
	opts.IO.Infof("Deleted %s.", strings.Join(existed, ", "))
	if len(absent) > 0 {
		opts.IO.Infof("No secret %s (nothing to delete).", strings.Join(absent, ", "))
	}
	return report(opts, existed, absent)
}

// report prints, with -o json or yaml, which keys were deleted and which
// were absent.
func report(opts *Options, deleted, absent []string) error {
	out := struct {
		Deleted []string `json:"deleted" yaml:"deleted"`
		Absent  []string `json:"absent" yaml:"absent"`
	}{append([]string{}, deleted...), append([]string{}, absent...)}
	_, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, out)
	return err
}
