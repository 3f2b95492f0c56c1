package restore

// restore KEY --version N and restore --as-of TIME: versions brought back
// through the API.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// KeyOptions are the parsed flags and arguments of restore KEY and restore --as-of.
type KeyOptions struct {
	cmdutil.ClientOptions
	Now func() time.Time

	Key     string
	Version int64
	AsOf    time.Time
	Prefix  string
	Output  string
	Yes     bool // --as-of: change keys without asking
}

// NewCmdRestoreKey builds restore KEY --version N | --as-of TIME alone (NewCmdRestore
// grafts it onto the file form); runF replaces the work in tests.
func NewCmdRestoreKey(f *cmdutil.Factory, runF func(*KeyOptions) error) *cobra.Command {
	opts := &KeyOptions{ClientOptions: f.ClientOptions(), Now: time.Now}
	var asOf string
	c := cmdutil.Verb(&cobra.Command{
		Use:   "restore KEY --version N | restore --as-of TIME [--prefix P]",
		Short: "Bring back an old version of a secret, or of every secret",
		Long: `restore KEY --version N writes the value of version N of KEY as its next
version (see history KEY); it also undeletes a deleted key.

restore --as-of TIME gives every key (under --prefix) the value it had at
TIME, as new versions, and deletes the keys created after it: nothing is
lost, every change is one more version. TIME is RFC 3339
(2026-01-02T15:04:05Z) or a duration ago (90m, 2h, 3d). Like delete, it
says which keys it would overwrite or delete and asks on a terminal; in a
script it needs --yes (exit 2 without). Prints what changed.`,
		Example: `  nosana-secrets restore DB_PASSWORD --version 3
  nosana-secrets restore --as-of 2h
  nosana-secrets restore --as-of 2026-01-02T15:04:05Z --prefix prod/`,
		Args: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return cmdutil.Usagef("restore takes at most one KEY")
			case len(args) == 1 && (opts.Version < 1 || asOf != ""):
				return cmdutil.Usagef("restore KEY needs --version N (and no --as-of)")
			case len(args) == 0 && asOf == "":
				return cmdutil.Usagef("restore needs KEY --version N, or --as-of TIME\nRun 'nosana-secrets restore --help' for usage.")
			case len(args) == 0 && opts.Version != 0:
				return cmdutil.Usagef("--version needs a KEY")
			}
			if len(args) == 1 {
				opts.Key = args[0]
				return nil
			}
			t, err := cmdutil.ParseTimeAgo(asOf, opts.Now())
			if err != nil {
				return cmdutil.Usagef("--as-of: %v", err)
			}
			opts.AsOf = t
			if !opts.Yes && !opts.IO.IsStdinTTY() {
				return cmdutil.Usagef("refusing to restore --as-of without --yes: it overwrites and deletes keys, and stdin is not a terminal to confirm on\nadd --yes to restore every key%s to its value as of %s",
					map[bool]string{true: " under " + opts.Prefix, false: ""}[opts.Prefix != ""], t.UTC().Format(time.RFC3339))
			}
			return nil
		},
	}, opts, runF, RunKey, nil)
	c.Flags().Int64Var(&opts.Version, "version", 0, "the version of KEY to bring back")
	c.Flags().StringVar(&asOf, "as-of", "", "restore every key to its value at this time (RFC 3339, or a duration ago)")
	c.Flags().StringVar(&opts.Prefix, "prefix", "", "with --as-of: only keys under this prefix")
	c.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "with --as-of: overwrite and delete keys without asking")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	return c
}

// RunKey restores versions and prints what changed.
func RunKey(ctx context.Context, opts *KeyOptions) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	if opts.Key != "" {
		v, err := c.Restore(ctx, opts.Key, opts.Version)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s restored from version %d as version %d\n", opts.Key, opts.Version, v)
		return err
	}
	if !opts.Yes {
		ok, err := confirmAsOf(ctx, c, opts)
		if err != nil || !ok {
			return err
		}
	}
	changes, err := c.RestoreAsOf(ctx, opts.AsOf, opts.Prefix)
	if err != nil {
		return err
	}
	if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, changes); done {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(opts.IO.Out, "%-8s %s (version %d)\n", ch.Action, ch.Key, ch.Version)
	}
	if len(changes) == 0 {
		opts.IO.Infof("Nothing to change: every key already has its value as of %s.", opts.AsOf.UTC().Format(time.RFC3339))
	}
	return nil
}

// confirmAsOf says, from the keys' metadata now and at the time, which
// keys an as-of restore would overwrite, bring back or delete, and asks.
// It answers false (and says so) when there is nothing to change or the
// answer is no.
func confirmAsOf(ctx context.Context, c *client.Client, opts *KeyOptions) (bool, error) {
	now, err := c.ListKeys(ctx, opts.Prefix)
	if err != nil {
		return false, err
	}
	then, err := c.ListKeysAsOf(ctx, opts.Prefix, opts.AsOf)
	if err != nil {
		return false, err
	}
	was := map[string]int64{}
	for _, k := range then {
		was[k.Key] = k.Version
	}
	var overwrite, remove []string
	for _, k := range now {
		v, ok := was[k.Key]
		switch {
		case !ok:
			remove = append(remove, k.Key)
		case v != k.Version:
			overwrite = append(overwrite, k.Key)
		}
		delete(was, k.Key)
	}
	back := len(was) // deleted since, to be brought back
	if len(overwrite)+len(remove)+back == 0 {
		opts.IO.Infof("Nothing to change: every key already has its value as of %s.", opts.AsOf.UTC().Format(time.RFC3339))
		return false, nil
	}
	var parts []string
	if len(overwrite) > 0 {
		parts = append(parts, "overwrite "+strings.Join(overwrite, ", "))
	}
	if len(remove) > 0 {
		parts = append(parts, "delete "+strings.Join(remove, ", "))
	}
	if back > 0 {
		parts = append(parts, fmt.Sprintf("bring back %d deleted", back))
	}
	err = opts.IO.ConfirmOr(fmt.Sprintf("Restore to %s: %s, at %s?", opts.AsOf.UTC().Format(time.RFC3339), strings.Join(parts, "; "), c.Endpoint()), "nothing restored")
	return err == nil, err
}
