// Package cmd holds the nosana-secrets commands. Commands return errors;
// Main alone prints them and picks the exit code.
package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Main runs the command line with the process's streams and returns the
// exit code.
func Main() int {
	ios := cmdutil.System()
	root := NewRoot(ios)
	// The one place where errors become exit codes and hints.
	err := cmdutil.APIError(root.Execute())
	if err != nil && !errors.Is(err, cmdutil.ErrSilent) {
		fmt.Fprintln(ios.ErrOut, "nosana-secrets: "+oneLine(err.Error()))
	}
	return cmdutil.ExitCode(err)
}

// oneLine keeps an error on at most two lines, what went wrong and what to
// do, with anything that could act on the terminal escaped (a server's
// message is part of many errors).
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 2 {
		lines = lines[:2]
	}
	for i, l := range lines {
		lines[i] = cmdutil.TerminalSafe(l, false)
	}
	return strings.Join(lines, "\n")
}

// NewRoot builds the command tree on ios.
func NewRoot(ios *cmdutil.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "nosana-secrets",
		Short:         "Secret manager for the Nosana network: the server and its command line",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.Usagef("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	root.AddCommand(
		newServeCmd(ios),
		newRekeyCmd(ios),
		newVersionCmd(ios),
	)
	root.AddCommand(clientCommands(ios)...)
	return root
}

// noArgs is cobra.NoArgs as a usage error (exit 2).
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cmdutil.Usagef("%s takes no arguments, got %q", c.CommandPath(), args[0])
	}
	return nil
}
