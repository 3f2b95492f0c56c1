// Package cmd holds the nosana-secrets commands. Commands return errors;
// Main alone prints them and picks the exit code.
package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/serve"
	"github.com/nosana-ci/nosana-secrets/internal/buildinfo"
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
	v, _, _ := buildinfo.Info()
	root.Version = v // --version, as the version verb's first line
	root.SetVersionTemplate("nosana-secrets {{.Version}}\n")
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.Usagef("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	f := newFactory(ios)
	root.AddCommand(
		serve.NewCmdServe(ios),
		newVersionCmd(ios),
	)
	root.AddCommand(storeCommands(f)...)
	root.AddCommand(clientCommands(f)...)
	root.InitDefaultCompletionCmd()
	groupCommands(root)
	return root
}

// groupCommands makes every command that only groups others (the root,
// completion) refuse an unknown subcommand as a usage error (exit 2) that
// keeps cobra's suggestion, and print its help when called bare.
func groupCommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		groupCommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	}
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		next := fmt.Sprintf("Run '%s --help' for usage.", c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			next = "Did you mean this? " + strings.Join(s, ", ")
		}
		return cmdutil.Usagef("unknown command %q for %q\n%s", args[0], c.CommandPath(), next)
	}
	c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
}
