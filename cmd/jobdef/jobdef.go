// Package jobdef is `nosana-secrets jobdef put|get|list|delete|render`:
// the confidential job definitions today's Nosana node fetches (issue 22).
package jobdef

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/jobdef"
)

// Options are the parsed flags and arguments of one jobdef verb.
type Options struct {
	cmdutil.ClientOptions

	Verb           string // put, get, list, delete, render
	Name           string
	File           string // put: the template ("-": stdin)
	PlaceholderOut string // put: write the placeholder here instead of stdout
	ShowValues     bool   // render: print secret values instead of masks
	Yes            bool   // delete: no confirmation
	Output         string
}

// NewCmdJobdef builds the command and its verbs; runF replaces the work
// in tests.
func NewCmdJobdef(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "jobdef",
		Short: "Keep confidential job definitions for today's Nosana node",
		Long: `Keep Nosana job definitions whose strings refer to your secrets as
%%secrets.KEY%%. Post the placeholder 'jobdef put' prints with Nosana's CLI
(nosana job post --file placeholder.json …): the node that runs the job
fetches the definition from this server, with the secrets filled in, and
posts its result back (see 'nosana-secrets job results').`,
		Args: cmdutil.NoArgs,
	}
	verb := func(use, short, long string, args int, setup func(c *cobra.Command, o *Options)) *cobra.Command {
		opts := &Options{ClientOptions: f.ClientOptions()}
		name := strings.Fields(use)[0]
		c := cmdutil.Verb(&cobra.Command{
			Use: use, Short: short, Long: long,
			Args: cobra.ArbitraryArgs,
		}, opts, runF, Run, func(a []string) error {
			if len(a) != args {
				return cmdutil.Usagef("jobdef %s takes %d argument(s), got %d\nRun 'nosana-secrets jobdef %s --help' for usage.", name, args, len(a), name)
			}
			opts.Verb = name
			if args > 0 {
				if err := jobdef.CheckName(a[0]); err != nil {
					return cmdutil.Usagef("NAME: %v", err)
				}
				opts.Name = a[0]
			}
			if args > 1 {
				opts.File = a[1]
			}
			if name == "delete" && !opts.Yes && !opts.IO.IsStdinTTY() {
				return cmdutil.Usagef("refusing to delete without --yes: stdin is not a terminal to confirm on\nadd --yes to delete %s", opts.Name)
			}
			return nil
		})
		if setup != nil {
			setup(c, opts)
		}
		f.AddClientFlags(c)
		return c
	}
	root.AddCommand(
		verb("put NAME FILE", "Store a job-definition template and print its placeholder",
			`Store FILE ('-': stdin), a Nosana job definition whose strings may hold
%%secrets.KEY%%, as the next version of NAME, and print the placeholder to
post on chain. A definition today's node would refuse is refused here, with
the place and the reason.`, 2,
			func(c *cobra.Command, o *Options) {
				c.Flags().StringVar(&o.PlaceholderOut, "placeholder-out", "", "write the placeholder to this file instead of stdout")
			}),
		verb("get NAME", "Print a template (never secret values)", "", 1,
			func(c *cobra.Command, o *Options) {
				cmdutil.AddOutputFlag(c, &o.Output, cmdutil.FormatText, cmdutil.FormatJSON)
			}),
		verb("list", "List your job-definition templates", "", 0,
			func(c *cobra.Command, o *Options) {
				cmdutil.AddOutputFlag(c, &o.Output, cmdutil.FormatText, cmdutil.FormatJSON)
			}),
		verb("delete NAME", "Delete a template (a node's fetch of it is refused from then on)", "", 1,
			func(c *cobra.Command, o *Options) {
				c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
			}),
		verb("render NAME", "Print the definition a node would get, values masked",
			`Print NAME with every %%secrets.KEY%% resolved from your secrets, as a
node would get it; values are masked unless --show-values.`, 1,
			func(c *cobra.Command, o *Options) {
				c.Flags().BoolVar(&o.ShowValues, "show-values", false, "print the secret values instead of masks")
			}),
	)
	return root
}

// Run does the verb.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	out := opts.IO.Out
	switch opts.Verb {
	case "put":
		return put(ctx, c, opts)
	case "get":
		d, err := c.JobDefinition(ctx, opts.Name)
		if err != nil {
			return err
		}
		if done, err := cmdutil.WriteRecord(out, opts.Output, d); done {
			return err
		}
		fmt.Fprintf(out, "name:    %s\nversion: %d\nsecrets: %s\nupdated: %s\n\n", cmdutil.TerminalSafe(d.Name, false), d.Version,
			safeNames(d.Secrets), d.UpdatedAt.UTC().Format(time.RFC3339))
		return writeIndented(out, d.Definition)
	case "list":
		list, err := c.JobDefinitions(ctx)
		if err != nil {
			return err
		}
		if opts.Output == cmdutil.FormatJSON {
			if list == nil {
				list = []client.JobDefinition{}
			}
			return cmdutil.WriteJSON(out, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "no job definitions; store one with 'nosana-secrets jobdef put NAME FILE'")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tSECRETS")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", cmdutil.TerminalSafe(d.Name, false), d.Version, safeNames(d.Secrets))
		}
		return tw.Flush()
	case "delete":
		if !opts.Yes {
			if err := opts.IO.ConfirmOr("Delete job definition "+opts.Name+"?", "not deleted"); err != nil {
				return err
			}
		}
		if err := c.DeleteJobDefinition(ctx, opts.Name); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "deleted job definition %s\n", opts.Name)
		return nil
	case "render":
		return render(ctx, c, opts)
	}
	return fmt.Errorf("unknown verb %q", opts.Verb)
}

func put(ctx context.Context, c *client.Client, opts *Options) error {
	var b []byte
	var err error
	if opts.File == "-" {
		b, err = io.ReadAll(opts.IO.In)
	} else {
		b, err = os.ReadFile(opts.File)
	}
	if err != nil {
		return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("read %s: %w", opts.File, err))
	}
	if !json.Valid(b) {
		return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("%s is not JSON", opts.File))
	}
	d, err := c.PutJobDefinition(ctx, opts.Name, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "stored job definition %s version %d (secrets: %s)\n", d.Name, d.Version, strings.Join(d.Secrets, ", "))
	if opts.PlaceholderOut != "" {
		var buf strings.Builder
		if err := writeIndented(&buf, d.Placeholder); err != nil {
			return err
		}
		if err := os.WriteFile(opts.PlaceholderOut, []byte(buf.String()), 0o644); err != nil {
			return cmdutil.WithCode(cmdutil.ExitFailure, err)
		}
		fmt.Fprintf(opts.IO.ErrOut, "placeholder written to %s\npost it with 'nosana job post --file %s …'\n", opts.PlaceholderOut, opts.PlaceholderOut)
		return nil
	}
	return writeIndented(opts.IO.Out, d.Placeholder)
}

// mask stands for a value render does not show.
const mask = "********"

func render(ctx context.Context, c *client.Client, opts *Options) error {
	d, err := c.JobDefinition(ctx, opts.Name)
	if err != nil {
		return err
	}
	values := map[string]json.RawMessage{}
	var missing []string
	for _, k := range d.Secrets {
		v, err := c.Get(ctx, k)
		if client.IsNotFound(err) {
			missing = append(missing, k)
			continue
		}
		if err != nil {
			return err
		}
		if !opts.ShowValues {
			v = json.RawMessage(`"` + mask + `"`)
		}
		values[k] = v
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("job definition %s refers to secrets that do not exist: %s (a node's fetch would be refused 409)",
			opts.Name, strings.Join(missing, ", ")))
	}
	out, _, err := jobdef.Render(d.Definition, values)
	if err != nil {
		return err
	}
	return writeIndented(opts.IO.Out, out)
}

// writeIndented prints a JSON document indented, keys in their order.
func writeIndented(w io.Writer, raw json.RawMessage) error { return cmdutil.WriteJSON(w, raw) }

// safeNames joins secret names for a line of text, each made safe for a
// terminal (a key name may hold control characters).
func safeNames(names []string) string {
	safe := make([]string, len(names))
	for i, n := range names {
		safe[i] = cmdutil.TerminalSafe(n, false)
	}
	return strings.Join(safe, ", ")
}
