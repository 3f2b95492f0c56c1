// Package whoami is `nosana-secrets whoami`.
package whoami

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags of whoami.
type Options struct {
	cmdutil.ClientOptions

	Job    string
	Output string
}

// NewCmdWhoami builds the command; runF replaces the work in tests.
func NewCmdWhoami(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "whoami [--job J]",
		Short: "Show who the server takes you for",
		Long: `Ask the server who your token speaks for: your address, its scope (owner:
your own namespace; job: the secrets a job grants in another's), the
namespace it reads, the job and its keys, and when it expires.

Signs in first when no valid token is cached. The token itself is never
printed.`,
		Args: cmdutil.NoArgs,
	}, opts, runF, Run, nil)
	c.Flags().StringVar(&opts.Job, "job", "", "ask about a job-scoped token for job J")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	return c
}

// Run asks the server and prints the answer.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client(opts.Job)
	if err != nil {
		return err
	}
	w, err := c.Whoami(ctx)
	if err != nil {
		return err
	}
	w.ExpiresAt = w.ExpiresAt.UTC()
	if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, w); done {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "address:   %s\nscope:     %s\nnamespace: %s\n", w.Address, w.Scope, w.Namespace)
	if w.Scope == "job" {
		fmt.Fprintf(&b, "job:       %s\nkeys:      %s\n", w.Job, strings.Join(w.Keys, ", "))
	}
	if w.Usage != nil && w.Quota != nil {
		fmt.Fprintf(&b, "usage:     %s, %s\n", of(w.Usage.Secrets, w.Quota.Secrets, func(n int64) string { return fmt.Sprint(n) }, " keys"),
			of(w.Usage.Bytes, w.Quota.Bytes, func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }, ""))
		fmt.Fprintf(&b, "audit log: %s\n", of(w.Usage.AuditBytes, w.Quota.AuditBytes, func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }, ""))
	}
	fmt.Fprintf(&b, "expires:   %s\n", w.ExpiresAt.Format(time.RFC3339))
	_, err = fmt.Fprint(opts.IO.Out, b.String())
	return err
}

// of says "used of limit unit", or "used unit (no limit)".
func of(used, limit int64, format func(int64) string, unit string) string {
	if limit <= 0 {
		return format(used) + unit + " (no limit)"
	}
	return format(used) + " of " + format(limit) + unit
}
