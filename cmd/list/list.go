// Package list is `nosana-secrets list`.
package list

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags of list.
type Options struct {
	cmdutil.ClientOptions

	Prefix     string
	ShowValues bool
	Output     string
	// AllowUnsafe lets -o env|dotenv print a variable run would refuse.
	AllowUnsafe bool
}

// NewCmdList builds the command; runF replaces the work in tests.
func NewCmdList(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:     "list [--prefix P] [--show-values]",
		Aliases: []string{"ls"},
		Short:   "List your secrets' keys (and values with --show-values)",
		Long: `List the keys of your secrets, sorted, one per line; values only with --show-values.

With --show-values, text output is KEY<TAB>VALUE per line (strings raw, other
values as JSON; text with a newline or other control character is shown
JSON-quoted). -o env and -o dotenv print NAME='value' / NAME="value" lines
with the key mapped to a variable name as 'nosana-secrets run' does.

` + cmdutil.UnsafeNamesHelp,
		Example: `  nosana-secrets list
  nosana-secrets list --prefix prod/ --show-values -o json
  nosana-secrets list --show-values -o dotenv > .env`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.Usagef("list takes no arguments, got %q; did you mean --prefix %s?", args[0], args[0])
			}
			return nil
		},
	}, opts, runF, Run, func([]string) error {
		if !opts.ShowValues && (opts.Output == cmdutil.FormatEnv || opts.Output == cmdutil.FormatDotenv) {
			return cmdutil.Usagef("-o %s prints values; add --show-values", opts.Output)
		}
		return cmdutil.CheckPrefix("--prefix", opts.Prefix)
	})
	c.Flags().StringVar(&opts.Prefix, "prefix", "", "only keys that start with this")
	c.Flags().BoolVar(&opts.ShowValues, "show-values", false, "print the values too")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.AllFormats...)
	cmdutil.AddAllowUnsafeNamesFlag(c, &opts.AllowUnsafe)
	f.AddClientFlags(c)
	return c
}

// Run lists and prints.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	if !opts.ShowValues {
		// Keys only: the values stay on the server (GET /v1/secrets).
		found, err := c.ListKeys(ctx, opts.Prefix)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			noSecrets(opts)
		}
		if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, found); done {
			return err // the v1 items: key, version, size, times
		}
		if opts.Output == cmdutil.FormatText && opts.IO.IsStdoutTTY() {
			tbl := cmdutil.NewTable(opts.IO, "KEY", "VERSION", "SIZE", "UPDATED")
			for _, k := range found {
				version, updated := "-", "-"
				if k.Version > 0 { // a server without /v1 gives names and sizes only
					version, updated = strconv.FormatInt(k.Version, 10), k.UpdatedAt.UTC().Format(time.RFC3339)
				}
				tbl.Row(k.Key, version, strconv.Itoa(k.Size), updated)
			}
			return tbl.Render()
		}
		keys := make([]string, len(found))
		for i, k := range found {
			keys[i] = k.Key
		}
		return cmdutil.WriteKeys(opts.IO.Out, opts.Output, keys) // a pipe: one name a line, for xargs
	}
	secrets, err := c.List(ctx, opts.Prefix)
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		noSecrets(opts)
	}
	return cmdutil.WriteSecrets(opts.IO.Out, opts.IO.ErrOut, opts.Output, secrets, opts.AllowUnsafe)
}

// noSecrets says, on a terminal, that the listing is empty and what to do.
func noSecrets(opts *Options) {
	if !opts.IO.IsStderrTTY() || opts.Output != cmdutil.FormatText {
		return
	}
	if opts.Prefix != "" {
		opts.IO.Infof("no secrets with prefix %q", opts.Prefix)
	} else {
		opts.IO.Infof("no secrets yet; store one with: nosana-secrets set KEY=VALUE")
	}
}
