// Package history is `nosana-secrets history KEY` and `undelete KEY`.
package history

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags and arguments of history and undelete.
type Options struct {
	cmdutil.ClientOptions

	Key    string
	Output string
}

// keyVerb finishes c as a verb on one KEY (history, undelete) with -o text,
// json or yaml.
func keyVerb(f *cmdutil.Factory, runF func(*Options) error, run func(context.Context, *Options) error, c *cobra.Command) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	verb := c.Name()
	c.Args = func(_ *cobra.Command, args []string) error {
		if len(args) != 1 || args[0] == "" {
			return cmdutil.Usagef("%s takes exactly one KEY\nRun 'nosana-secrets %s --help' for usage.", verb, verb)
		}
		opts.Key = args[0]
		return nil
	}
	cmdutil.Verb(c, opts, runF, run, nil)
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	return c
}

// NewCmdHistory builds `history KEY`; runF replaces the work in tests.
func NewCmdHistory(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	return keyVerb(f, runF, RunHistory, &cobra.Command{
		Use:   "history KEY",
		Short: "List the kept versions of a secret",
		Long: `List the versions the server keeps of KEY, newest first: the version, when
it was written, by whom (and for which job), and which versions are deletes.
Values are not shown; read one with get KEY --version N.`,
		Example: `  nosana-secrets history DB_PASSWORD
  nosana-secrets get DB_PASSWORD --version 3
  nosana-secrets restore DB_PASSWORD --version 3`,
	})
}

// versions signs in and reads the kept versions of opts.Key, newest first.
func versions(ctx context.Context, opts *Options) (*client.Client, []client.VersionInfo, error) {
	c, err := opts.Client("")
	if err != nil {
		return nil, nil, err
	}
	vs, err := c.Versions(ctx, opts.Key)
	return c, vs, err
}

// RunHistory prints the versions.
func RunHistory(ctx context.Context, opts *Options) error {
	_, vs, err := versions(ctx, opts)
	if err != nil {
		return err
	}
	return cmdutil.WriteRows(opts.IO, opts.Output, vs, []string{"VERSION", "WRITTEN", "BY", "NOTE"}, func(v client.VersionInfo) []string {
		by := v.By.Address
		if v.By.Job != "" {
			by += " (job " + v.By.Job + ")"
		}
		note := ""
		if v.DeletedAt != nil {
			note = "deleted"
		}
		return []string{strconv.FormatInt(v.Version, 10), v.CreatedAt.UTC().Format(time.RFC3339), by, note}
	})
}

// NewCmdUndelete builds `undelete KEY`; runF replaces the work in tests.
func NewCmdUndelete(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	return keyVerb(f, runF, RunUndelete, &cobra.Command{
		Use:   "undelete KEY",
		Short: "Bring back a deleted secret with its last value",
		Long: `Bring back KEY, deleted with delete (without --destroy), with the value it
had before: that value is written as its next version. Prints the version;
-o json prints {"key", "version", "from_version"}.`,
		Example: `  nosana-secrets undelete DB_PASSWORD
  nosana-secrets undelete DB_PASSWORD -o json`,
	})
}

// RunUndelete restores the newest version before the delete.
func RunUndelete(ctx context.Context, opts *Options) error {
	c, vs, err := versions(ctx, opts)
	if err != nil {
		return err
	}
	if len(vs) == 0 || vs[0].DeletedAt == nil {
		return fmt.Errorf("%s is not deleted; see its versions with: nosana-secrets history %s", opts.Key, shellQuote(opts.Key))
	}
	for _, v := range vs[1:] {
		if v.DeletedAt != nil {
			continue
		}
		n, err := c.Restore(ctx, opts.Key, v.Version)
		if err != nil {
			return err
		}
		rec := struct {
			Key         string `json:"key" yaml:"key"`
			Version     int64  `json:"version" yaml:"version"`
			FromVersion int64  `json:"from_version" yaml:"from_version"`
		}{opts.Key, n, v.Version}
		if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, rec); done {
			return err
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s restored from version %d as version %d\n", opts.Key, v.Version, n)
		return err
	}
	return fmt.Errorf("%s has no version before its delete left to restore (purged)", opts.Key)
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
