// Package login is `nosana-secrets login`.
package login

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags of login.
type Options struct {
	cmdutil.ClientOptions

	Job       string
	Output    string
	PrintBody bool

	// OIDC: exchange the CI's OIDC token (GitHub Actions) for an access
	// token of Owner's trust; see oidc.go.
	OIDC       bool
	Owner      string
	Endpoint   func() string
	Getenv     func(string) string
	HTTPClient *http.Client
}

// NewCmdLogin builds the command; runF replaces the work in tests.
func NewCmdLogin(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions(), Endpoint: f.Endpoint, Getenv: f.Env, HTTPClient: f.HTTPClient}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "login [--job J]",
		Short: "Sign in with your keypair and cache the token",
		Long: `Sign in to the server with your Solana keypair and print who you are.

The sign-in message is a Sign-In With Solana text bound to the endpoint, so
the signature is useless at any other server (--legacy-login signs the old
nosana_secret_<time> challenge for servers that predate it).

The token is cached per endpoint and address in your user config directory
(file mode 0600) and reused by every command until two minutes before it
expires; commands sign in by themselves when there is no valid token, so
running login first is optional. With --job J the token is job-scoped (the
node side; see job-fetch) and cached for that job.

With --oidc, inside a GitHub Actions job with 'permissions: id-token: write',
login needs no keypair: it asks GitHub for the workflow's OIDC token (for
the audience --endpoint), exchanges it for an access token of --owner's
trust (see 'trust github'), and hands it to the job's later steps as
NOSANA_SECRETS_TOKEN (through $GITHUB_ENV, masked in the logs). Outside
Actions it prints the access token on stdout.`,
		Args: cmdutil.NoArgs,
	}, opts, runF, Run, func([]string) error {
		if err := cmdutil.CheckJob(opts.Job); err != nil {
			return err
		}
		if opts.OIDC && (opts.Job != "" || opts.PrintBody) {
			return cmdutil.Usagef("--oidc signs in without a keypair: it takes neither --job nor --print-body")
		}
		if opts.OIDC && opts.Owner == "" {
			opts.Owner = opts.Getenv(EnvOwner)
		}
		if opts.OIDC && opts.Owner == "" {
			return cmdutil.Usagef("--oidc needs --owner ADDRESS (or %s): the wallet whose trust to use", EnvOwner)
		}
		return nil
	})
	c.Flags().StringVar(&opts.Job, "job", "", "job address for a job-scoped sign-in")
	c.Flags().BoolVar(&opts.OIDC, "oidc", false, "inside GitHub Actions: exchange the workflow's OIDC token for an access token (no keypair)")
	c.Flags().StringVar(&opts.Owner, "owner", "", "with --oidc: the wallet address whose trust to use (env "+EnvOwner+")")
	c.Flags().BoolVar(&opts.PrintBody, "print-body", false, "print a signed POST /login body and send nothing (for curl and other clients)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	return c
}

// Run signs in (always afresh) and prints the token's identity, never
// the token.
func Run(ctx context.Context, opts *Options) error {
	if opts.OIDC {
		return runOIDC(ctx, opts)
	}
	c, err := opts.Client(opts.Job)
	if err != nil {
		return err
	}
	if opts.PrintBody {
		body, err := c.LoginBody()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(opts.IO.Out, string(body))
		return err
	}
	tok, err := c.Login(ctx)
	if err != nil {
		return err
	}
	info := struct {
		Address     string    `json:"address" yaml:"address"`
		Endpoint    string    `json:"endpoint" yaml:"endpoint"`
		Expires     time.Time `json:"expires" yaml:"expires"`
		Job         string    `json:"job,omitempty" yaml:"job,omitempty"`
		UserAddress string    `json:"userAddress,omitempty" yaml:"userAddress,omitempty"`
		Secrets     []string  `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	}{tok.Address, c.Endpoint(), tok.Expires.UTC(), opts.Job, tok.UserAddress, tok.Secrets}
	if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, info); done {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "address:  %s\nendpoint: %s\nexpires:  %s\n", info.Address, info.Endpoint, info.Expires.Format(time.RFC3339))
	if opts.Job != "" {
		// The grant list is the job document's: shown, never obeyed.
		granted := make([]string, len(info.Secrets))
		for i, k := range info.Secrets {
			granted[i] = cmdutil.TerminalSafe(k, false)
		}
		fmt.Fprintf(&b, "job:      %s\nreads:    %s\nsecrets:  %s\n", opts.Job, cmdutil.TerminalSafe(info.UserAddress, false), strings.Join(granted, ", "))
	}
	if _, err := fmt.Fprint(opts.IO.Out, b.String()); err != nil {
		return err
	}
	if opts.IO.IsStderrTTY() {
		opts.IO.Infof("Signed in; the token is cached for the other commands until it expires.")
	}
	return nil
}
