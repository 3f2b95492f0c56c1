package restore

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// NewCmdRestore builds the one `restore`: with --version or --as-of it
// brings back versions through the API (NewCmdRestoreKey); otherwise it
// loads a backup FILE into the store (NewCmdRestoreFile, whose work runF
// replaces in tests).
func NewCmdRestore(f *cmdutil.Factory, runF func(*RestoreOptions) error) *cobra.Command {
	c := NewCmdRestoreFile(f, runF)
	k := NewCmdRestoreKey(f, nil)
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
		// restore KEY without --version: a key, not a file, was meant.
		if f, _ := cmd.Flags().GetString("file"); f == "" && len(args) == 1 && !looksLikeBackup(args[0]) {
			return cmdutil.Usagef("%s is not a backup file here. To bring back an old version of the secret %s: restore %s --version N "+
				"(history %s lists them); to load a backup: restore --file FILE", args[0], args[0], args[0], args[0])
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

// looksLikeBackup reports whether arg names a backup file to load: stdin,
// a name ending in .backup, or a file that exists.
func looksLikeBackup(arg string) bool {
	if arg == "-" || strings.HasSuffix(arg, ".backup") || strings.HasSuffix(arg, ".backup.gz") {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}
