package job_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/job"
)

const jobAddr = "7Ypg4ts1QGXyvXqK5cj1HGeMX2ytSLZzVxGWkKCsMRrF"

func TestJobResultsParsing(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"results", jobAddr}, 0},
		{[]string{"results"}, 2},
		{[]string{"results", "not-a-job"}, 2},
	} {
		_, err := cmdtest.Parse(t, false, job.NewCmdJob, tc.args...)
		if code := cmdutil.ExitCode(err); code != tc.code {
			t.Errorf("%v: exit %d (%v), want %d", tc.args, code, err, tc.code)
		}
	}
}

func TestJobResultsOutput(t *testing.T) {
	srv := cmdtest.ServerWith(t, map[string]any{"jobs/" + jobAddr + "/results": map[string]any{
		"status": "success", "startTime": 1765000000000, "endTime": 1765000060000,
		"opStates": []any{map[string]any{"operationId": "run", "status": "success", "exitCode": 0,
			"logs": []any{map[string]any{"type": "stdout", "log": "hello\n"}}}},
	}})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"text", []string{"results", jobAddr}},
		{"json", []string{"results", jobAddr, "-o", "json"}},
		{"missing", []string{"results", "11111111111111111111111111111111"}},
	} {
		f, _, out, errOut := cmdtest.Factory(t, false, srv)
		err := cmdtest.Run(job.NewCmdJob(f, nil), tc.args...)
		cmdtest.Golden(t, "job_results_"+tc.name, cmdtest.Transcript(err, out.String(), errOut.String()))
	}
}
