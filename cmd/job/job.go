// Package job is `nosana-secrets job results JOB`: what a job's node posted
// to this server after the run (issue 22).
package job

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags and arguments of job results.
type Options struct {
	cmdutil.ClientOptions

	Job     string
	Version int64
	Output  string
}

// NewCmdJob builds `job` and its verb `results`; runF replaces the work in
// tests.
func NewCmdJob(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "job",
		Short: "Read what your jobs' nodes posted back",
		Args:  cmdutil.NoArgs,
	}
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "results JOB",
		Short: "Print the result a job's node posted",
		Long: `Print the result (the flow state: status, times, each op's logs and
results) that the node of JOB posted to this server, stored as your secret
jobs/JOB/results. A node may post up to 4 times; --version picks one.

Exit code 3 when no result was posted.`,
		Example: `  nosana-secrets job results 7Yp…Qm
  nosana-secrets job results 7Yp…Qm -o json | jq .opStates`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		if err := cmdutil.ExactlyOne("job results", "JOB", args); err != nil {
			return err
		}
		if err := cmdutil.CheckJob(args[0]); err != nil {
			return err
		}
		opts.Job = args[0]
		return nil
	})
	c.Flags().Int64Var(&opts.Version, "version", 0, "print this version of the result")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON)
	f.AddClientFlags(c)
	root.AddCommand(c)
	return root
}

// flowState is the part of a node's result the text output shows.
type flowState struct {
	Status    string   `json:"status"`
	StartTime *float64 `json:"startTime"`
	EndTime   *float64 `json:"endTime"`
	OpStates  []struct {
		OperationID *string `json:"operationId"`
		Status      *string `json:"status"`
		ExitCode    *int    `json:"exitCode"`
		Logs        []struct {
			Type string  `json:"type"`
			Log  *string `json:"log"`
		} `json:"logs"`
	} `json:"opStates"`
}

// Run reads and prints the result.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	v, err := c.GetVersion(ctx, client.JobResultsKey(opts.Job), opts.Version)
	if client.IsNotFound(err) && opts.Version == 0 {
		return cmdutil.WithCode(cmdutil.ExitNotFound, fmt.Errorf("no result of job %s here: its node has not posted one (is the job's logistics.receive this server?)", opts.Job))
	}
	if err != nil {
		return err
	}
	if done, err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, v.Value); done {
		return err
	}
	var fs flowState
	var b strings.Builder
	fmt.Fprintf(&b, "job:     %s\nversion: %d (posted %s)\n", opts.Job, v.Version, v.CreatedAt.UTC().Format(time.RFC3339))
	if json.Unmarshal(v.Value, &fs) != nil || fs.Status == "" {
		b.WriteString("\n")
		_, err := fmt.Fprint(opts.IO.Out, b.String())
		if err != nil {
			return err
		}
		return cmdutil.WriteJSON(opts.IO.Out, v.Value)
	}
	fmt.Fprintf(&b, "status:  %s\n", cmdutil.TerminalSafe(fs.Status, false))
	for _, op := range fs.OpStates {
		id, st := "?", "?"
		if op.OperationID != nil {
			id = *op.OperationID
		}
		if op.Status != nil {
			st = *op.Status
		}
		fmt.Fprintf(&b, "\nop %s: %s", cmdutil.TerminalSafe(id, false), cmdutil.TerminalSafe(st, false))
		if op.ExitCode != nil {
			fmt.Fprintf(&b, " (exit %d)", *op.ExitCode)
		}
		b.WriteString("\n")
		for _, l := range op.Logs {
			if l.Log != nil {
				fmt.Fprintf(&b, "  %s | %s\n", l.Type, cmdutil.TerminalSafe(strings.TrimRight(*l.Log, "\n"), true))
			}
		}
	}
	_, err = fmt.Fprint(opts.IO.Out, b.String())
	return err
}
