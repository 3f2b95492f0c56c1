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
	IO     *cmdutil.IOStreams
	Client func(job string) (*client.Client, error)

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
	run := func(opts *Options) func(c *cobra.Command, args []string) error {
		return func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Name, opts.ID = args[0], args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(c.Context(), opts)
		}
	}
	root := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke access tokens",
		Long: `Access tokens let CI and programs read (and, with --write, write) your
secrets under a prefix without your wallet's key. Give one to a job as
NOSANA_SECRETS_TOKEN: every command that reads or writes secrets uses it
instead of a keypair. A token can never create, list or revoke tokens or
trusts, read history or the audit log, or restore; those need your wallet.`,
	}
	create := &Options{IO: f.IOStreams, Client: f.Client, Verb: "create"}
	cc := &cobra.Command{
		Use:   "create NAME [--prefix P] [--write] [--ttl 30d]",
		Short: "Create an access token and print it, once",
		Long: `Create an access token named NAME and print it on stdout, once: the server
keeps only its hash. Details go to stderr. Without --prefix it covers every
key; without --write it only reads. --ttl is a duration like 90m, 720h or
30d (default 720h, at most 365d).`,
		Args: cmdutil.OneArg("NAME"),
		RunE: run(create),
	}
	cc.Flags().StringVar(&create.Prefix, "prefix", "", "the token covers only keys starting with this")
	cc.Flags().BoolVar(&create.Write, "write", false, "the token may also write and delete under its prefix")
	cc.Flags().StringVar(&create.TTL, "ttl", "", "how long the token lives, e.g. 30d or 720h (default 720h)")
	cmdutil.AddOutputFlag(cc, &create.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)

	list := &Options{IO: f.IOStreams, Client: f.Client, Verb: "list"}
	lc := &cobra.Command{
		Use:   "list",
		Short: "List your access tokens (never the tokens themselves)",
		Args:  cmdutil.NoArgs,
		RunE:  run(list),
	}
	cmdutil.AddOutputFlag(lc, &list.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)

	revoke := &Options{IO: f.IOStreams, Client: f.Client, Verb: "revoke"}
	rc := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an access token; every server refuses it within a second",
		Args:  cmdutil.OneArg("ID (from token list)"),
		RunE:  run(revoke),
	}
	for _, c := range []*cobra.Command{cc, lc, rc} {
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
	case "create":
		t, err := c.CreateToken(ctx, client.TokenRequest{Name: opts.Name, Prefix: opts.Prefix, Write: opts.Write, TTL: opts.TTL})
		if err != nil {
			return err
		}
		switch opts.Output {
		case cmdutil.FormatJSON:
			return cmdutil.WriteJSON(opts.IO.Out, t)
		case cmdutil.FormatYAML:
			return cmdutil.WriteYAML(opts.IO.Out, t)
		}
		if _, err := fmt.Fprintln(opts.IO.Out, t.Token); err != nil {
			return err
		}
		opts.IO.Infof("Created token %s (%s): %s under %q, until %s. It is shown only this once.",
			t.ID, t.Name, access(t.Write), t.Prefix, t.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	case "list":
		ts, err := c.Tokens(ctx)
		if err != nil {
			return err
		}
		switch opts.Output {
		case cmdutil.FormatJSON:
			return cmdutil.WriteJSON(opts.IO.Out, ts)
		case cmdutil.FormatYAML:
			return cmdutil.WriteYAML(opts.IO.Out, ts)
		}
		tab := cmdutil.NewTable(opts.IO, "ID", "NAME", "PREFIX", "ACCESS", "EXPIRES", "LAST USED")
		for _, t := range ts {
			used := "never"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.UTC().Format(time.RFC3339)
			}
			name := t.Name
			if t.Subject != "" {
				name += " (" + t.Subject + ")"
			}
			tab.Row(t.ID, name, t.Prefix, access(t.Write), t.ExpiresAt.UTC().Format(time.RFC3339), used)
		}
		return tab.Render()
	case "revoke":
		if err := c.RevokeToken(ctx, opts.ID); err != nil {
			return err
		}
		opts.IO.Infof("Revoked token %s.", cmdutil.TerminalSafe(opts.ID, false))
		return nil
	}
	return fmt.Errorf("unknown verb %q", opts.Verb)
}

func access(write bool) string {
	if write {
		return "read-write"
	}
	return "read"
}
