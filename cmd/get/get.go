// Package get is `nosana-secrets get KEY`.
package get

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags and arguments of get.
type Options struct {
	cmdutil.ClientOptions

	Key     string
	Version int64
	Output  string
	// AllowUnsafe lets -o env|dotenv print a variable run would refuse.
	AllowUnsafe bool
}

// NewCmdGet builds the command; runF replaces the work in tests.
func NewCmdGet(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "get KEY",
		Short: "Print one secret's value",
		Long: `Print one secret's value on stdout.

A string is printed raw, exactly as stored, with nothing added: no quotes and,
when stdout is not a terminal, no trailing newline, so $(nosana-secrets get KEY)
is the value. Any other value (number, object, array, true, false, null) is
printed as JSON. On a terminal a newline is added if the value lacks one, and
control, bidi and zero-width characters are shown escaped (\x1b, \u202e).

` + cmdutil.UnsafeNamesHelp + `

Exit code 3 when the key does not exist.`,
		Example: `  nosana-secrets get DB_PASSWORD
  export DB_PASSWORD="$(nosana-secrets get DB_PASSWORD)"
  nosana-secrets get config -o yaml`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		if err := cmdutil.ExactlyOne("get", "KEY", args); err != nil {
			return err
		}
		if err := cmdutil.CheckKey("KEY", args[0]); err != nil {
			return err
		}
		opts.Key = args[0]
		return nil
	})
	c.Flags().Int64Var(&opts.Version, "version", 0, "print this version of KEY instead of the current one (see history KEY)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.AllFormats...)
	cmdutil.AddAllowUnsafeNamesFlag(c, &opts.AllowUnsafe)
	f.AddClientFlags(c)
	return c
}

// Run fetches and prints the value.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if opts.Version > 0 {
		var v *client.SecretVersion
		if v, err = c.GetVersion(ctx, opts.Key, opts.Version); err == nil {
			raw = v.Value
		}
	} else {
		raw, err = c.Get(ctx, opts.Key)
	}
	if err != nil {
		return err
	}
	return WriteValue(opts.IO, opts.Output, opts.Key, raw, opts.AllowUnsafe)
}

// WriteValue prints one value in format: text and json with nothing added
// (a newline only on a terminal), the others as whole lines; allowUnsafe
// is WriteSecrets'.
func WriteValue(ios *cmdutil.IOStreams, format, key string, raw json.RawMessage, allowUnsafe bool) error {
	var s string
	switch format {
	case cmdutil.FormatText:
		s = cmdutil.ValueString(raw)
	case cmdutil.FormatJSON:
		s = string(raw)
	case cmdutil.FormatYAML:
		return cmdutil.WriteYAMLValue(ios.Out, raw)
	default:
		return cmdutil.WriteSecrets(ios.Out, ios.ErrOut, format, client.Secrets{key: raw}, allowUnsafe)
	}
	if ios.IsStdoutTTY() {
		// For the eyes only: escapes shown, not obeyed.
		s = cmdutil.TerminalSafe(s, true)
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
	}
	_, err := io.WriteString(ios.Out, s)
	return err
}
