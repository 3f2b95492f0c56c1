package cmd

import (
	"github.com/spf13/cobra"

	auditcmd "github.com/nosana-ci/nosana-secrets/cmd/audit"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/delete"
	"github.com/nosana-ci/nosana-secrets/cmd/get"
	"github.com/nosana-ci/nosana-secrets/cmd/health"
	"github.com/nosana-ci/nosana-secrets/cmd/history"
	"github.com/nosana-ci/nosana-secrets/cmd/job"
	"github.com/nosana-ci/nosana-secrets/cmd/jobdef"
	"github.com/nosana-ci/nosana-secrets/cmd/jobfetch"
	"github.com/nosana-ci/nosana-secrets/cmd/keygen"
	"github.com/nosana-ci/nosana-secrets/cmd/list"
	"github.com/nosana-ci/nosana-secrets/cmd/login"
	"github.com/nosana-ci/nosana-secrets/cmd/run"
	"github.com/nosana-ci/nosana-secrets/cmd/set"
	"github.com/nosana-ci/nosana-secrets/cmd/token"
	"github.com/nosana-ci/nosana-secrets/cmd/trust"
	"github.com/nosana-ci/nosana-secrets/cmd/whoami"
)

//go:generate ../scripts/completions

// clientCommands are the verbs that sign in with a keypair and talk to a
// server. A new verb: NewCmdX(f, nil) in this list.
func clientCommands(f *cmdutil.Factory) []*cobra.Command {
	getCmd := get.NewCmdGet(f, nil)
	getCmd.ValidArgsFunction = f.CompleteKeys(1)
	deleteCmd := delete.NewCmdDelete(f, nil)
	deleteCmd.ValidArgsFunction = f.CompleteKeys(-1)
	return []*cobra.Command{
		keygen.NewCmdKeygen(f, nil),
		login.NewCmdLogin(f, nil),
		set.NewCmdSet(f, nil),
		getCmd,
		list.NewCmdList(f, nil),
		deleteCmd,
		jobfetch.NewCmdJobFetch(f, nil),
		run.NewCmdRun(f, nil),
		whoami.NewCmdWhoami(f, nil),
		history.NewCmdHistory(f, nil),
		history.NewCmdUndelete(f, nil),
		auditcmd.NewCmdAudit(f, nil),
		jobdef.NewCmdJobdef(f, nil),
		job.NewCmdJob(f, nil),
		token.NewCmdToken(f, nil),
		trust.NewCmdTrust(f, nil),
		health.NewCmdHealth(f, nil),
	}
}
