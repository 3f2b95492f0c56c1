// Package keygen is `nosana-secrets keygen`.
package keygen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/keypair"
)

// Options are the parsed flags of keygen.
type Options struct {
	IO   *cmdutil.IOStreams
	Path func() (string, error)

	Force  bool
	Output string
}

// NewCmdKeygen builds the command; runF replaces the work in tests.
func NewCmdKeygen(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Path: f.KeypairPath}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "keygen [--keypair FILE] [--force]",
		Short: "Create a new Solana keypair file",
		Long: `Create a new random Solana keypair and write it in the solana-keygen format
(a JSON array of 64 numbers) to --keypair, $` + cmdutil.EnvKeypair + ` or
~/.config/solana/id.json. The file gets mode 0600 and missing directories
0700. An existing file is never replaced without --force: it may hold the
only copy of a key, and the secrets stored under its address would be lost
with it. Prints the new address; never the key.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.Usagef("keygen takes no arguments, got %q; use --keypair FILE", args[0])
			}
			return nil
		},
	}, opts, runF, func(_ context.Context, opts *Options) error { return Run(opts) }, nil)
	c.Flags().BoolVar(&opts.Force, "force", false, "replace an existing keypair file")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON)
	f.AddKeypairFlag(c)
	return c
}

// Run creates and writes the keypair.
func Run(opts *Options) error {
	path, err := opts.Path()
	if err != nil {
		return err
	}
	kp, err := keypair.Generate()
	if err != nil {
		return err
	}
	if err := kp.WriteFile(path, opts.Force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cmdutil.WithCode(cmdutil.ExitFailure, err)
		}
		return err
	}
	if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, map[string]string{"address": kp.Address(), "path": path}); done {
		return err
	}
	// Where the key went is said off a terminal too (stderr: stdout is the
	// address, for scripts).
	opts.IO.Infof("Wrote a new keypair to %s (mode 0600). Keep it private and backed up: it is the only key to the secrets stored under this address.", path)
	_, err = fmt.Fprintln(opts.IO.Out, kp.Address())
	return err
}
