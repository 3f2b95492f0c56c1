package cmdutil

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
)

// ClientOptions start the Options of every verb that talks to a server:
// the streams and the API client (job-scoped when job is set).
type ClientOptions struct {
	IO     *IOStreams
	Client func(job string) (*client.Client, error)
}

// ClientOptions are f's streams and lazy client, for a verb's Options.
func (f *Factory) ClientOptions() ClientOptions {
	return ClientOptions{IO: f.IOStreams, Client: f.Client}
}

// StoreOptions start the Options of every verb that opens the store of
// serve's settings (backup, migrate, rekey, restore FILE).
type StoreOptions struct {
	IO        *IOStreams
	OpenStore func(context.Context) (*Store, error)
}

// StoreOptions are f's streams and the store that c's flags name
// (BindStore adds them to c).
func (f *Factory) StoreOptions(c *cobra.Command) StoreOptions {
	return StoreOptions{IO: f.IOStreams, OpenStore: f.BindStore(c)}
}

// Verb makes c run a verb on opts and returns it: RunE calls prepare (when
// not nil) with the arguments to check them and fill opts in, then runF
// when a test gives one, else run with the command's context. A bad flag
// is a usage error (exit 2).
func Verb[O any](c *cobra.Command, opts *O, runF func(*O) error, run func(context.Context, *O) error, prepare func(args []string) error) *cobra.Command {
	c.RunE = func(c *cobra.Command, args []string) error {
		if prepare != nil {
			if err := prepare(args); err != nil {
				return err
			}
		}
		if runF != nil {
			return runF(opts)
		}
		return run(c.Context(), opts)
	}
	c.SetFlagErrorFunc(FlagError)
	return c
}

// VerbGroup adds client verbs to a group command (token, trust) whose
// verbs share one Options type and one run that tells them apart by the
// verb's name.
type VerbGroup[O any] struct {
	F    *Factory
	Root *cobra.Command
	// New makes the Options of the verb named verb.
	New  func(verb string) *O
	RunF func(*O) error // tests' replacement of the work, or nil
	Run  func(context.Context, *O) error
	// Prepare, when not nil, checks a verb's arguments and fills opts in.
	Prepare func(opts *O, args []string) error
}

// Add makes c a verb of the group (Verb, with the client flags), adds it
// to Root and returns its Options, for c's own flags.
func (g *VerbGroup[O]) Add(c *cobra.Command) *O {
	opts := g.New(c.Name())
	var prepare func([]string) error
	if g.Prepare != nil {
		prepare = func(args []string) error { return g.Prepare(opts, args) }
	}
	Verb(c, opts, g.RunF, g.Run, prepare)
	g.F.AddClientFlags(c)
	g.Root.AddCommand(c)
	return opts
}

// Interruptible is run with a context that SIGINT and SIGTERM cancel, for
// a verb that stops cleanly when interrupted.
func Interruptible[O any](run func(context.Context, *O) error) func(context.Context, *O) error {
	return func(ctx context.Context, opts *O) error {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, opts)
	}
}
