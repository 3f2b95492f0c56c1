// Package cmdutil is the plumbing every command shares: IO streams, typed
// errors and their exit codes.
package cmdutil

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// Exit codes of SPEC §4.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitNotFound    = 3
	ExitAuth        = 4
	ExitUnreachable = 5
)

// ExitError carries the exit code a failure should end the process with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// WithCode wraps err so main exits with code.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Usagef is a usage error (exit 2): bad flags or arguments.
func Usagef(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// NoArgs is cobra.NoArgs as a usage error (exit 2).
func NoArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%s takes no arguments, got %q", c.CommandPath(), args[0])
	}
	return nil
}

// OneArg is cobra.ExactArgs(1) as a usage error (exit 2); what names the
// argument in the message, e.g. "FILE (- for stdin)".
func OneArg(what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != 1 {
			return Usagef("%s takes one %s", c.CommandPath(), what)
		}
		return nil
	}
}

// ExactlyOne is the usage error (exit 2) of verb (e.g. "job results")
// given other than one argument, what names it (e.g. "JOB"); nil for one.
func ExactlyOne(verb, what string, args []string) error {
	if len(args) != 1 {
		return Usagef("%s takes exactly one %s, got %d arguments\nRun 'nosana-secrets %s --help' for usage.", verb, what, len(args), verb)
	}
	return nil
}

// ErrSilent ends the process with exit 1 after the command already said why.
var ErrSilent = errors.New("silent error")

// ExitCode maps an error to its exit code: an ExitError's own code, else 1.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
