// Package token is `nosana-secrets token create|list|revoke`: access
// tokens for CI and programs that should not hold the wallet's key.
package token

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed arguments of a token verb.
type Options struct {
	cmdutil.ClientOptions

	Verb   string // "create", "list" or "revoke"
	Name   string // create
	Prefix string
	Write  bool
	TTL    string
	ID     string // revoke
	Output string
}

// NewCmdToken builds `token` and its verbs; runF replaces the work in tests.
func NewCmdToken(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke access tokens",
		Long: `Access tokens let CI and programs read (and, with --write, write) your
secrets under a prefix without your wallet's key. Give one to a job as
NOSANA_SECRETS_TOKEN: every command that reads or writes secrets uses it
instead of a keypair. A token can never create, list or revoke tokens or
trusts, read history or the audit log, or restore; those need your wallet.`,
	}
	verbs := cmdutil.VerbGroup[Options]{F: f, Root: root, RunF: runF, Run: Run,
		New: func(verb string) *Options { return &Options{ClientOptions: f.ClientOptions(), Verb: verb} },
		Prepare: func(opts *Options, args []string) error {
			if len(args) > 0 {
				opts.Name, opts.ID = args[0], args[0]
			}
			return nil
		},
	}
	cc := &cobra.Command{
		Use:   "create NAME [--prefix P] [--write] [--ttl 30d]",
		Short: "Create an access token and print it, once",
		Long: `Create an access token named NAME and print it on stdout, once: the server
keeps only its hash. Details go to stderr. Without --prefix it covers every
key; without --write it only reads. --ttl is a duration like 90m, 720h or
30d (default 720h, at most 365d).`,
		Args: cmdutil.OneArg("NAME"),
	}
	create := verbs.Add(cc)
	cc.Flags().StringVar(&create.Prefix, "prefix", "", "the token covers only keys starting with this")
	cc.Flags().BoolVar(&create.Write, "write", false, "the token may also write and delete under its prefix")
	cc.Flags().StringVar(&create.TTL, "ttl", "", "how long the token lives, e.g. 30d or 720h (default 720h)")
	cmdutil.AddOutputFlag(cc, &create.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)

	lc := &cobra.Command{
		Use:   "list",
		Short: "List your access tokens (never the tokens themselves)",
		Args:  cmdutil.NoArgs,
	}
	cmdutil.AddOutputFlag(lc, &verbs.Add(lc).Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)

	verbs.Add(&cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an access token; every server refuses it within a second",
		Args:  cmdutil.OneArg("ID (from token list)"),
	})
	return root
}

// Run does one verb.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	switch opts.Verb {
	case "create":
		t, err := c.CreateToken(ctx, client.TokenRequest{Name: opts.Name, Prefix: opts.Prefix, Write: opts.Write, TTL: opts.TTL})
		if err != nil {
			return err
		}
		if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, t); done {
			return err
		}
		if _, err := fmt.Fprintln(opts.IO.Out, t.Token); err != nil {
			return err
		}
		opts.IO.Infof("Created token %s (%s): %s under %q, until %s. It is shown only this once.",
			t.ID, t.Name, cmdutil.Access(t.Write), t.Prefix, t.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	case "list":
		ts, err := c.Tokens(ctx)
		if err != nil {
			return err
		}
		return cmdutil.WriteRows(opts.IO, opts.Output, ts, []string{"ID", "NAME", "PREFIX", "ACCESS", "EXPIRES", "LAST USED"}, func(t client.AccessToken) []string {
			used := "never"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.UTC().Format(time.RFC3339)
			}
			name := t.Name
			if t.Subject != "" {
				name += " (" + t.Subject + ")"
			}
			return []string{t.ID, name, t.Prefix, cmdutil.Access(t.Write), t.ExpiresAt.UTC().Format(time.RFC3339), used}
		})
	case "revoke":
		if err := c.RevokeToken(ctx, opts.ID); err != nil {
			return err
		}
		opts.IO.Infof("Revoked token %s.", cmdutil.TerminalSafe(opts.ID, false))
		return nil
	}
	return fmt.Errorf("unknown verb %q", opts.Verb)
}
