// Package jobfetch is `nosana-secrets job-fetch`, the node side of a job.
package jobfetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/get"
)

// Options are the parsed flags and arguments of job-fetch.
type Options struct {
	cmdutil.ClientOptions

	Job    string
	Keys   []string
	Output string
	// AllowUnsafe lets -o env|dotenv print a variable run would refuse.
	AllowUnsafe bool
}

// NewCmdJobFetch builds the command; runF replaces the work in tests.
func NewCmdJobFetch(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "job-fetch --job J [KEY…]",
		Short: "As a job's node, print the secrets the job grants",
		Long: `Sign in for a job (a job-scoped token) and print the secrets it grants.

While the job runs, its node reads the project's secrets that the job lists;
once it has finished, its project reads the result secrets the node stored.
Without KEYs every granted secret that exists is printed (as list
--show-values prints them); with one KEY its value is printed as get does
(a string raw, nothing added); with several, those secrets.

` + cmdutil.UnsafeNamesHelp + `

Exit code 4 when the server refuses the sign-in or a key is not granted,
3 when a granted key does not exist, 1 when -o env|dotenv refuses a name.`,
		Example: `  nosana-secrets job-fetch --job 7nd… -o json
  eval "$(nosana-secrets job-fetch --job 7nd… -o env)"
  nosana-secrets job-fetch --job 7nd… pipeline1-ssh-key > id_ed25519`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		if opts.Job == "" {
			return cmdutil.Usagef("--job is required: the address of the job account\nRun 'nosana-secrets job-fetch --help' for usage.")
		}
		if err := cmdutil.CheckJob(opts.Job); err != nil {
			return err
		}
		for _, k := range args {
			if err := cmdutil.CheckKey("KEY", k); err != nil {
				return err
			}
		}
		opts.Keys = args
		return nil
	})
	c.Flags().StringVar(&opts.Job, "job", "", "job address (required)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.AllFormats...)
	cmdutil.AddAllowUnsafeNamesFlag(c, &opts.AllowUnsafe)
	f.AddClientFlags(c)
	return c
}

// Run signs in for the job and prints the secrets.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client(opts.Job)
	if err != nil {
		return err
	}
	if len(opts.Keys) == 0 {
		secrets, err := c.List(ctx, "")
		if err != nil {
			return jobError(err)
		}
		return cmdutil.WriteSecrets(opts.IO.Out, opts.IO.ErrOut, opts.Output, secrets, opts.AllowUnsafe)
	}
	secrets := client.Secrets{}
	for _, k := range opts.Keys {
		v, err := c.Get(ctx, k)
		if err != nil {
			return jobError(err)
		}
		secrets[k] = v
	}
	if len(opts.Keys) == 1 {
		return get.WriteValue(opts.IO, opts.Output, opts.Keys[0], secrets[opts.Keys[0]], opts.AllowUnsafe)
	}
	return cmdutil.WriteSecrets(opts.IO.Out, opts.IO.ErrOut, opts.Output, secrets, opts.AllowUnsafe)
}

// jobError: from a server without error codes, a 400 to a read with a job
// token means the job does not grant it (a key not in the job, or no grant
// list), a permission matter. Coded answers are Main's to explain.
func jobError(err error) error {
	var he *client.HTTPError
	var le *client.LoginError
	if errors.As(err, &he) && he.Code == "" && he.Status == http.StatusBadRequest && !errors.As(err, &le) {
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("%s\nthe job's JSON lists the keys it grants (state[\"nosana/secrets\"] or secrets)", he.Message))
	}
	return err
}
