package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/buildinfo"
)

func newVersionCmd(ios *cmdutil.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v, c, d := buildinfo.Info()
			_, err := fmt.Fprintf(ios.Out, "nosana-secrets %s\ncommit: %s\nbuilt: %s\ngo: %s %s/%s\n",
				v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
