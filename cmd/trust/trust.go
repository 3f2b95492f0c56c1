// Package trust is `nosana-secrets trust github|list|delete`: let a
// GitHub Actions workflow sign in with GitHub's own OIDC token, storing
// no secret in the repository.
package trust

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
)

// Options are the parsed arguments of a trust verb.
type Options struct {
	IO     *cmdutil.IOStreams
	Client func(job string) (*client.Client, error)

	Verb        string // "github", "list" or "delete"
	Name        string
	Repo        string
	Ref         string
	Environment string
	Audience    string
	Issuer      string
	Prefix      string
	Write       bool
	TTL         string
	ID          string // delete
	Output      string
}

// NewCmdTrust builds `trust` and its verbs; runF replaces the work in tests.
func NewCmdTrust(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	run := func(opts *Options) func(c *cobra.Command, args []string) error {
		return func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.ID = args[0]
			}
			if opts.Verb == "github" {
				if opts.Repo == "" || strings.Count(opts.Repo, "/") != 1 {
					return cmdutil.Usagef("--repo OWNER/REPO is required: the repository whose workflows may sign in")
				}
				if opts.Name == "" {
					opts.Name = "github:" + opts.Repo
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(c.Context(), opts)
		}
	}
	root := &cobra.Command{
		Use:   "trust",
		Short: "Let GitHub Actions workflows sign in without a stored secret",
		Long: `A trust lets a workflow exchange the OIDC token its CI issues for an access
token of the trust's scope (see 'login --oidc'): nothing secret is stored in
the repository. Claims are compared exactly.`,
	}
	gh := &Options{IO: f.IOStreams, Client: f.Client, Verb: "github"}
	gc := &cobra.Command{
		Use:   "github --repo OWNER/REPO [--ref R] [--environment E] [--prefix P] [--write]",
		Short: "Trust a GitHub repository's workflows (optionally one ref or environment)",
		Long: `Trust the GitHub Actions workflows of one repository: a workflow with
'permissions: id-token: write' running 'nosana-secrets login --oidc' gets an
access token reading (with --write, writing) your secrets under --prefix, for
--ttl (default 15m, at most 1h). --ref (e.g. refs/heads/main) and
--environment narrow it to one branch or tag, or one deployment environment.`,
		Args: cmdutil.NoArgs,
		RunE: run(gh),
	}
	fl := gc.Flags()
	fl.StringVar(&gh.Repo, "repo", "", "the repository, OWNER/REPO")
	fl.StringVar(&gh.Ref, "ref", "", "only this git ref, e.g. refs/heads/main")
	fl.StringVar(&gh.Environment, "environment", "", "only jobs of this deployment environment")
	fl.StringVar(&gh.Name, "name", "", "a name for the trust (default github:OWNER/REPO)")
	fl.StringVar(&gh.Issuer, "issuer", oidcauth.GitHubIssuer, "the token issuer (GitHub Enterprise Server: https://HOST/_services/token)")
	fl.StringVar(&gh.Audience, "audience", "", "the audience the token must name (default: the server's public URL)")
	fl.StringVar(&gh.Prefix, "prefix", "", "the exchanged tokens cover only keys starting with this")
	fl.BoolVar(&gh.Write, "write", false, "the exchanged tokens may also write under the prefix")
	fl.StringVar(&gh.TTL, "ttl", "", "life of an exchanged token (default 15m, at most 1h)")
	cmdutil.AddOutputFlag(gc, &gh.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)

	list := &Options{IO: f.IOStreams, Client: f.Client, Verb: "list"}
	lc := &cobra.Command{Use: "list", Short: "List your trusts", Args: cmdutil.NoArgs, RunE: run(list)}
	cmdutil.AddOutputFlag(lc, &list.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	del := &Options{IO: f.IOStreams, Client: f.Client, Verb: "delete"}
	dc := &cobra.Command{Use: "delete ID", Short: "Delete a trust (tokens already exchanged live out their ttl)",
		Args: cmdutil.OneArg("ID (from trust list)"), RunE: run(del)}
	for _, c := range []*cobra.Command{gc, lc, dc} {
		c.SetFlagErrorFunc(cmdutil.FlagError)
		f.AddClientFlags(c)
		root.AddCommand(c)
	}
	return root
}

// Run does one verb.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	switch opts.Verb {
	case "github":
		claims := map[string]string{"repository": opts.Repo}
		if opts.Ref != "" {
			claims["ref"] = opts.Ref
		}
		if opts.Environment != "" {
			claims["environment"] = opts.Environment
		}
		t, err := c.CreateTrust(ctx, client.Trust{Name: opts.Name, Issuer: opts.Issuer, Audience: opts.Audience,
			Claims: claims, Prefix: opts.Prefix, Write: opts.Write, TTL: opts.TTL})
		if err != nil {
			return err
		}
		if opts.Output != cmdutil.FormatText {
			return write(opts, t)
		}
		_, err = fmt.Fprintln(opts.IO.Out, t.ID)
		opts.IO.Infof("Workflows of %s (%s) may now sign in with 'nosana-secrets login --oidc --owner %s'.",
			cmdutil.TerminalSafe(opts.Repo, false), describe(*t), c.Address())
		return err
	case "list":
		ts, err := c.Trusts(ctx)
		if err != nil {
			return err
		}
		if opts.Output != cmdutil.FormatText {
			return write(opts, ts)
		}
		tab := cmdutil.NewTable(opts.IO, "ID", "NAME", "ISSUER", "CLAIMS", "PREFIX", "ACCESS", "TTL")
		for _, t := range ts {
			acc := "read"
			if t.Write {
				acc = "read-write"
			}
			tab.Row(t.ID, t.Name, t.Issuer, claimList(t.Claims), t.Prefix, acc, t.TTL)
		}
		return tab.Render()
	case "delete":
		if err := c.DeleteTrust(ctx, opts.ID); err != nil {
			return err
		}
		opts.IO.Infof("Deleted trust %s.", cmdutil.TerminalSafe(opts.ID, false))
		return nil
	}
	return fmt.Errorf("unknown verb %q", opts.Verb)
}

func write(opts *Options, v any) error {
	if opts.Output == cmdutil.FormatYAML {
		return cmdutil.WriteYAML(opts.IO.Out, v)
	}
	return cmdutil.WriteJSON(opts.IO.Out, v)
}

func claimList(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func describe(t client.Trust) string {
	acc := "read"
	if t.Write {
		acc = "read-write"
	}
	return fmt.Sprintf("%s, %s under %q, tokens of %s", claimList(t.Claims), acc, t.Prefix, t.TTL)
}
