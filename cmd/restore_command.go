package cmd

import (
	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/restore"
	"github.com/nosana-ci/nosana-secrets/cmd/restorekey"
)

// restoreCommand is the one `restore`: with --version or --as-of it brings
// back versions through the API (package restorekey, issue 11); otherwise
// it loads a backup FILE into the store (package restore).
func restoreCommand(ios *cmdutil.IOStreams) *cobra.Command {
	c := restore.NewCmdRestore(storeFactory(ios), nil)
	k := restorekey.NewCmdRestoreKey(cmdutil.NewFactory(ios), nil)
	c.Flags().AddFlagSet(k.Flags())
	history := func(cmd *cobra.Command) bool {
		return cmd.Flags().Changed("version") || cmd.Flags().Changed("as-of")
	}
	fileArgs, fileRun := c.Args, c.RunE
	c.Use = "restore FILE | restore KEY --version N | restore --as-of TIME [--prefix P]"
	c.Short = "Load a backup FILE into the store, or bring back versions of secrets"
	c.Long = "restore FILE:\n\n" + c.Long + "\n\nrestore KEY --version N, restore --as-of TIME:\n\n" + k.Long
	c.Example += "\n" + k.Example
	c.Args = func(cmd *cobra.Command, args []string) error {
		if history(cmd) {
			return k.Args(k, args)
		}
		return fileArgs(cmd, args)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if history(cmd) {
			k.SetContext(cmd.Context())
			return k.RunE(k, args)
		}
		return fileRun(cmd, args)
	}
	return c
}
