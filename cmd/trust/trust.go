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
	cmdutil.ClientOptions

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
	root := &cobra.Command{
		Use:   "trust",
		Short: "Let GitHub Actions workflows sign in without a stored secret",
		Long: `A trust lets a workflow exchange the OIDC token its CI issues for an access
token of the trust's scope (see 'login --oidc'): nothing secret is stored in
the repository. Claims are compared exactly.`,
	}
	verbs := cmdutil.VerbGroup[Options]{F: f, Root: root, RunF: runF, Run: Run,
		New: func(verb string) *Options { return &Options{ClientOptions: f.ClientOptions(), Verb: verb} },
		Prepare: func(opts *Options, args []string) error {
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
			return nil
		},
	}
	gc := &cobra.Command{
		Use:   "github --repo OWNER/REPO [--ref R] [--environment E] [--prefix P] [--write]",
		Short: "Trust a GitHub repository's workflows (optionally one ref or environment)",
		Long: `Trust the GitHub Actions workflows of one repository: a workflow with
'permissions: id-token: write' running 'nosana-secrets login --oidc' gets an
access token reading (with --write, writing) your secrets under --prefix, for
--ttl (default 15m, at most 1h). --ref (e.g. refs/heads/main) and
--environment narrow it to one branch or tag, or one deployment environment.`,
		Args: cmdutil.NoArgs,
	}
	gh := verbs.Add(gc)
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

	lc := &cobra.Command{Use: "list", Short: "List your trusts", Args: cmdutil.NoArgs}
	cmdutil.AddOutputFlag(lc, &verbs.Add(lc).Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	verbs.Add(&cobra.Command{Use: "delete ID", Short: "Delete a trust (tokens already exchanged live out their ttl)",
		Args: cmdutil.OneArg("ID (from trust list)")})
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
		if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, t); done {
			return err
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
		return cmdutil.WriteRows(opts.IO, opts.Output, ts, []string{"ID", "NAME", "ISSUER", "CLAIMS", "PREFIX", "ACCESS", "TTL"}, func(t client.Trust) []string {
			return []string{t.ID, t.Name, t.Issuer, claimList(t.Claims), t.Prefix, cmdutil.Access(t.Write), t.TTL}
		})
	case "delete":
		if err := c.DeleteTrust(ctx, opts.ID); err != nil {
			return err
		}
		opts.IO.Infof("Deleted trust %s.", cmdutil.TerminalSafe(opts.ID, false))
		return nil
	}
	return fmt.Errorf("unknown verb %q", opts.Verb)
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
	return fmt.Sprintf("%s, %s under %q, tokens of %s", claimList(t.Claims), cmdutil.Access(t.Write), t.Prefix, t.TTL)
}
