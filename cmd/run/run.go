// Package run is `nosana-secrets run`: a command with secrets in its
// environment.
package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Exit codes when the command cannot be started, as env(1) and shells use.
const (
	ExitCannotExecute = 126
	ExitNotFound      = 127
)

// Options are the parsed flags and arguments of run.
type Options struct {
	cmdutil.ClientOptions
	// Environ is the environment the command inherits; nil means os.Environ.
	Environ func() []string

	Job      string
	Prefix   string
	Override bool
	// AllowEnv names variables that cmdutil.UnsafeEnvName refuses but the user wants set.
	AllowEnv []string
	Command  []string
}

// NewCmdRun builds the command; runF replaces the work in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "run [--job J] [--prefix P] [--override] [--allow-env NAME] -- CMD [ARG…]",
		Short: "Run a command with your secrets as environment variables",
		Long: `Run CMD with your secrets (or, with --job, the job's granted secrets) added to
its environment. CMD's stdin, stdout and stderr are this terminal's; its exit
code becomes nosana-secrets' exit code (128+N when a signal N ended it; 127
when CMD is not found, 126 when it cannot be executed); SIGINT, SIGTERM and
SIGHUP are passed on to it. With --keypair - the keypair is read from stdin
first, and CMD gets what is left of it.

Variable names: a key that is a valid name ([A-Za-z_][A-Za-z0-9_]*) is used
as is, case kept. In other keys every other character becomes '_' and a
leading digit gets a '_' in front: db/password -> db_password,
api-key.v2 -> api_key_v2, 2fa -> _2fa. With --prefix P only keys starting
with P are fetched and P is removed first: with --prefix prod/, prod/DB_URL
-> DB_URL.

Collisions: when several keys map to the same name, a key that is exactly
the name wins, else the key that sorts first; the others are skipped with a
note on stderr. Values that are not strings are given as JSON (42, true,
{"a":1}); values holding a NUL byte are skipped.

Existing variables win: a secret whose name is already set in the
environment is not applied (stderr says which) unless --override is given.

Variables that change how programs load or start, or whom they trust, are
never set from a secret unless named with --allow-env (repeatable): the
dynamic loader's LD_* and DYLD_*, PATH, the shells' BASH_ENV, ENV, IFS,
PS4, PROMPT_COMMAND…, interpreter hooks such as NODE_OPTIONS, PYTHON*,
PERL5OPT, RUBYOPT, JAVA_TOOL_OPTIONS, GIT_*, and TLS trust and proxy
settings. Each one skipped gets a warning naming it (never its value).
With --job the project picks the names and values: these would run its
code here.
The full list:
` + wrap(strings.Join(cmdutil.UnsafeEnvNames(), " "), 76, "  "),
		Example: `  nosana-secrets run -- ./deploy.sh
  nosana-secrets run --prefix prod/ -- docker compose up
  nosana-secrets run --job 7nd… --override -- python train.py
  nosana-secrets run --allow-env PYTHONPATH -- python app.py`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		if len(args) == 0 {
			return cmdutil.Usagef("name the command to run: nosana-secrets run [flags] -- CMD [ARG…]")
		}
		if args[0] == "" {
			return cmdutil.Usagef("the command to run is empty")
		}
		if err := cmdutil.CheckJob(opts.Job); err != nil {
			return err
		}
		if err := cmdutil.CheckPrefix("--prefix", opts.Prefix); err != nil {
			return err
		}
		for _, n := range opts.AllowEnv {
			if !cmdutil.ValidEnvName(n) {
				return cmdutil.Usagef("--allow-env %q is not a variable name", n)
			}
		}
		opts.Command = args
		return nil
	})
	// Flags after CMD belong to CMD, with or without "--".
	c.Flags().SetInterspersed(false)
	c.Flags().StringVar(&opts.Job, "job", "", "use the secrets this job grants (job-scoped sign-in)")
	c.Flags().StringVar(&opts.Prefix, "prefix", "", "only keys that start with this, which is removed from the variable names")
	c.Flags().BoolVar(&opts.Override, "override", false, "let secrets replace variables already set in the environment")
	c.Flags().StringSliceVar(&opts.AllowEnv, "allow-env", nil, "set this variable even though it changes how programs load or start (repeatable)")
	f.AddClientFlags(c)
	return c
}

// Run fetches the secrets, builds the environment and runs the command.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client(opts.Job)
	if err != nil {
		return err
	}
	secrets, err := c.List(ctx, opts.Prefix)
	if err != nil {
		return err
	}
	environ := os.Environ
	if opts.Environ != nil {
		environ = opts.Environ
	}
	env, notes := BuildEnv(environ(), secrets, EnvOptions{Prefix: opts.Prefix, Override: opts.Override, Allow: opts.AllowEnv})
	for _, n := range notes {
		fmt.Fprintln(opts.IO.ErrOut, "nosana-secrets: "+n)
	}
	return execute(opts, env)
}

// EnvOptions are how BuildEnv adds secrets.
type EnvOptions struct {
	Prefix   string   // removed from the keys (run --prefix)
	Override bool     // secrets replace variables of base
	Allow    []string // unsafe variables to set all the same
}

// BuildEnv adds secrets to base (KEY=VALUE entries) as EnvVars maps them.
// Unsafe variables (cmdutil.UnsafeEnvName) are skipped unless allowed; variables already in base
// are kept unless Override. notes say, by name only, what was skipped or
// kept.
func BuildEnv(base []string, secrets client.Secrets, o EnvOptions) (env []string, notes []string) {
	vars, notes := cmdutil.EnvVars(secrets, o.Prefix)
	allowed := map[string]bool{}
	for _, n := range o.Allow {
		allowed[envKey(n)] = true
	}
	index := map[string]int{}
	env = make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		index[envKey(name)] = len(env)
		env = append(env, kv)
	}
	var kept, replaced []string
	for _, v := range vars {
		if cmdutil.UnsafeEnvName(v.Name) && !allowed[envKey(v.Name)] {
			from := ""
			if v.Key != o.Prefix+v.Name {
				from = " (key " + cmdutil.QuoteKey(v.Key) + ")"
			}
			notes = append(notes, fmt.Sprintf("warning: skipped $%s%s: it changes how programs load or start; add --allow-env %s to set it", v.Name, from, v.Name))
			continue
		}
		entry := v.Name + "=" + v.Value
		i, exists := index[envKey(v.Name)]
		switch {
		case !exists:
			index[envKey(v.Name)] = len(env)
			env = append(env, entry)
		case o.Override:
			env[i] = entry
			replaced = append(replaced, "$"+v.Name)
		default:
			kept = append(kept, "$"+v.Name)
		}
	}
	sort.Strings(kept)
	if len(kept) > 0 {
		notes = append(notes, fmt.Sprintf("kept %s from the environment; the %s of the same name %s not applied (use --override to apply)",
			strings.Join(kept, ", "), plural(len(kept), "secret", "secrets"), plural(len(kept), "was", "were")))
	}
	if len(replaced) > 0 {
		notes = append(notes, "--override: secrets replaced "+strings.Join(replaced, ", ")+" from the environment")
	}
	return env, notes
}

// wrap breaks s into lines of at most width, each starting with indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// execute runs the command with env, passing signals on, and returns an
// error carrying its exit code.
func execute(opts *Options, env []string) error {
	name := opts.Command[0]
	cmd := exec.Command(name, opts.Command[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.IO.In, opts.IO.Out, opts.IO.ErrOut

	// Signals sent to nosana-secrets (kill, a supervisor, a CI runner) go
	// on to the command. A Ctrl-C at the terminal reaches both processes
	// anyway; the command may see that SIGINT twice.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
			return cmdutil.WithCode(ExitNotFound, fmt.Errorf("cannot run %s: command not found", name))
		case errors.Is(err, fs.ErrPermission):
			return cmdutil.WithCode(ExitCannotExecute, fmt.Errorf("cannot run %s: permission denied", name))
		}
		return cmdutil.WithCode(ExitCannotExecute, fmt.Errorf("cannot run %s: %v", name, err))
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cmdutil.WithCode(exitCode(ee), cmdutil.ErrSilent)
	}
	return fmt.Errorf("run %s: %v", name, err)
}
