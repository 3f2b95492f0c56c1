// Package set is `nosana-secrets set`.
package set

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// maxInput bounds a value read from stdin or a file (the server's default
// body limit is 1 MiB).
const maxInput = 8 << 20

// Pair is one KEY=VALUE argument, or KEY - (the value comes from stdin).
type Pair struct {
	Key       string
	Value     string
	FromStdin bool
	FromFile  string // --file: the value is this file's bytes
}

// Options are the parsed flags and arguments of set.
type Options struct {
	cmdutil.ClientOptions

	Pairs       []Pair
	FromFile    string
	JSON        bool
	Prefix      string
	KeepNewline bool
	File        string // --file: the one KEY's value is this file, byte for byte
	Output      string
	CAS         int64 // client.NoCAS unless --cas
}

// NewCmdSet builds the command; runF replaces the work in tests.
func NewCmdSet(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions()}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "set KEY=VALUE… | set KEY - | set KEY --file FILE | set --from-file FILE",
		Short: "Store secrets (from arguments, stdin or a .env file)",
		Long: `Store secrets under your address; existing keys are overwritten. All the
secrets of one command are stored in one request, all or nothing.

  KEY=VALUE      the value is the text after the first '='
  KEY -          the value is read from stdin: on a terminal one hidden line;
                 otherwise all of stdin, byte for byte, except that a single
                 line (one newline, at the end: what echo or a here-string
                 gives) loses that newline, so 'echo v | set K -' stores "v"
                 while 'set K - < id_ed25519' stores the key file exactly;
                 --keep-newline keeps even a single line's newline
  KEY --file F   the value is the file F, byte for byte
  --from-file F  every KEY=VALUE of a .env file (F may be - for stdin):
                 # comments, 'export ' prefixes, 'literal' and "escaped"
                 values (\n \r \t \" \\ \$), values spanning lines inside
                 quotes; nothing is expanded ($VAR stays as written)

Values are strings, or any JSON with --json (42, true, {"a":1}, "text").
--prefix P stores each KEY as P+KEY. set prints the keys it stored, one per
line, never the values.

A value given as KEY=VALUE shows in your shell history and to other users
in the process list; prefer KEY - or --from-file for real secrets.`,
		Example: `  nosana-secrets set API_URL=https://api.example.com
  nosana-secrets set DB_PASSWORD -            # type it, hidden
  pass show db | nosana-secrets set DB_PASSWORD -
  nosana-secrets set deploy-key --file ~/.ssh/deploy_key
  nosana-secrets set --from-file .env --prefix prod/
  nosana-secrets set --json replicas=3 'config={"debug":false}'`,
		Args: cobra.ArbitraryArgs,
	}, opts, runF, Run, func(args []string) error {
		var pairs []Pair
		var err error
		if opts.File != "" {
			if len(args) != 1 || strings.ContainsAny(args[0], "=") || args[0] == "-" {
				return cmdutil.Usagef("--file FILE takes exactly one KEY: set KEY --file FILE")
			}
			if opts.FromFile != "" {
				return cmdutil.Usagef("--file and --from-file cannot be combined: --file stores one KEY, --from-file a .env file")
			}
			pairs = []Pair{{Key: args[0], FromFile: opts.File}}
		} else if pairs, err = ParseArgs(args); err != nil {
			return err
		}
		if len(pairs) == 0 && opts.FromFile == "" {
			return cmdutil.Usagef("nothing to store: give KEY=VALUE, KEY - or --from-file FILE\nRun 'nosana-secrets set --help' for usage.")
		}
		if f.KeypairFromStdin() && (opts.FromFile == "-" || slices.ContainsFunc(pairs, func(p Pair) bool { return p.FromStdin })) {
			return cmdutil.Usagef("stdin can feed either --keypair - or the values (KEY -, --from-file -), not both; give the keypair in a file or in $%s", cmdutil.EnvKeypairJSON)
		}
		if opts.FromFile == "-" {
			for _, p := range pairs {
				if p.FromStdin {
					return cmdutil.Usagef("stdin can feed either --from-file - or %s -, not both", p.Key)
				}
			}
		}
		opts.Pairs = pairs
		return nil
	})
	fs := c.Flags()
	fs.StringVarP(&opts.FromFile, "from-file", "f", "", "import the KEY=VALUE lines of a .env file (- for stdin)")
	fs.BoolVar(&opts.JSON, "json", false, "parse each value as JSON instead of storing it as a string")
	fs.StringVar(&opts.Prefix, "prefix", "", "store each KEY as PREFIX+KEY")
	fs.BoolVar(&opts.KeepNewline, "keep-newline", false, "keep the newline of a single line read from stdin (longer input is always kept as it is)")
	fs.StringVar(&opts.File, "file", "", "store the one KEY's value from this file, byte for byte")
	fs.Int64Var(&opts.CAS, "cas", client.NoCAS, "check-and-set one KEY: write only if its current version is N (0: only if it does not exist)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON)
	f.AddClientFlags(c)
	return c
}

// ParseArgs reads KEY=VALUE and KEY - arguments. Stdin can be read once, a
// key may appear once, and no key may be empty.
func ParseArgs(args []string) ([]Pair, error) {
	var pairs []Pair
	seen := map[string]bool{}
	stdin := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		var p Pair
		if k, v, ok := strings.Cut(a, "="); ok {
			p = Pair{Key: k, Value: v}
		} else if i+1 < len(args) && args[i+1] == "-" {
			if stdin != "" {
				return nil, cmdutil.Usagef("only one value can come from stdin (%s - and %s -)", stdin, a)
			}
			stdin = a
			p = Pair{Key: a, FromStdin: true}
			i++
		} else if a == "-" {
			return nil, cmdutil.Usagef("'-' must follow a KEY: set KEY -")
		} else {
			return nil, cmdutil.Usagef("%q has no value; write %s=VALUE, or %s - to read the value from stdin", a, a, a)
		}
		if p.Key == "" {
			return nil, cmdutil.Usagef("argument %d has an empty KEY before '='", i+1)
		}
		if seen[p.Key] {
			return nil, cmdutil.Usagef("%s is given twice", p.Key)
		}
		seen[p.Key] = true
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// Run gathers the values, stores them in one request and prints the keys.
func Run(ctx context.Context, opts *Options) error {
	values, order, err := gather(opts)
	if err != nil {
		return err
	}
	for _, k := range order {
		if err := cmdutil.CheckKey("KEY", opts.Prefix+k); err != nil {
			return err
		}
	}
	secrets := make(client.Secrets, len(values))
	for _, k := range order {
		v := values[k]
		if opts.JSON {
			if !json.Valid([]byte(v)) {
				return cmdutil.Usagef("the value of %s is not valid JSON (--json); quote text as \"text\"", k)
			}
			secrets[k] = json.RawMessage(strings.TrimSpace(v))
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		secrets[k] = b
	}
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	if opts.CAS != client.NoCAS {
		if len(order) != 1 || opts.CAS < 0 {
			return cmdutil.Usagef("--cas N takes exactly one KEY and a version from 0")
		}
		// A conflict's exit code and hint come from cmdutil.APIError.
		if _, err := c.Put(ctx, opts.Prefix+order[0], secrets[order[0]], opts.CAS); err != nil {
			return err
		}
	} else if err := c.Set(ctx, secrets, opts.Prefix); err != nil {
		return err
	}
	stored := make([]string, 0, len(order))
	for _, k := range order {
		stored = append(stored, opts.Prefix+k)
	}
	sort.Strings(stored)
	if opts.IO.IsStderrTTY() {
		opts.IO.Infof("Stored %d %s for %s at %s.", len(stored), plural(len(stored), "secret"), c.Address(), c.Endpoint())
	}
	return cmdutil.WriteKeys(opts.IO.Out, opts.Output, stored)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// gather returns the values by key, with the keys in argument order
// (file entries first); an argument may not repeat a key of the file.
func gather(opts *Options) (map[string]string, []string, error) {
	values := map[string]string{}
	var order []string
	from := map[string]string{}
	if opts.FromFile != "" {
		name := opts.FromFile
		var data []byte
		var err error
		if name == "-" {
			name = "stdin"
			data, err = readAll(opts.IO.In)
		} else {
			data, err = readFile(name)
		}
		if err != nil {
			return nil, nil, err
		}
		entries, err := ParseDotenv(string(data))
		if err != nil {
			return nil, nil, cmdutil.WithCode(cmdutil.ExitUsage, fmt.Errorf("%s: %v", name, err))
		}
		if len(entries) == 0 && len(opts.Pairs) == 0 {
			return nil, nil, cmdutil.Usagef("%s holds no KEY=VALUE lines; nothing to store", name)
		}
		for _, e := range entries {
			values[e.Key] = e.Value
			order = append(order, e.Key)
			from[e.Key] = fmt.Sprintf("%s line %d", name, e.Line)
		}
	}
	for _, p := range opts.Pairs {
		if where, dup := from[p.Key]; dup {
			return nil, nil, cmdutil.Usagef("%s is given as an argument and in %s", p.Key, where)
		}
		v := p.Value
		var err error
		switch {
		case p.FromStdin:
			v, err = readStdin(opts, p.Key)
		case p.FromFile != "":
			var b []byte
			if b, err = readValueFile(p.FromFile); err == nil {
				v = string(b)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if !opts.JSON && !utf8.ValidString(v) {
			return nil, nil, cmdutil.Usagef("the value of %s is not UTF-8 text, and a secret is stored as JSON text: "+
				"store binary data base64-encoded (base64 -w0 FILE | nosana-secrets set %s -)", p.Key, p.Key)
		}
		values[p.Key] = v
		order = append(order, p.Key)
	}
	return values, order, nil
}

// readStdin reads one value: a hidden line on a terminal, else all of
// stdin as it is, less the newline of a single line (unless
// --keep-newline): "v\n" is "v", while a key file keeps its last newline.
func readStdin(opts *Options, key string) (string, error) {
	if opts.IO.IsStdinTTY() {
		v, err := opts.IO.ReadHidden("Value of " + key + " (typing is hidden): ")
		if err != nil {
			return "", fmt.Errorf("read the value of %s: %w", key, err)
		}
		return v, nil
	}
	b, err := readAll(opts.IO.In)
	if err != nil {
		return "", err
	}
	v := string(b)
	if !opts.KeepNewline && strings.Count(v, "\n") == 1 {
		if t, ok := strings.CutSuffix(v, "\n"); ok {
			v = strings.TrimSuffix(t, "\r")
		}
	}
	return v, nil
}

// readValueFile reads the file of --file whole, as it is.
func readValueFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	switch {
	case os.IsNotExist(err):
		return nil, cmdutil.Usagef("--file %s: no such file", name)
	case err != nil:
		return nil, fmt.Errorf("--file: %w", err)
	case len(b) > maxInput:
		return nil, cmdutil.Usagef("--file %s holds more than %d MiB; secrets are meant to be small", name, maxInput>>20)
	}
	return b, nil
}

func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > maxInput {
		return nil, cmdutil.Usagef("stdin holds more than %d MiB; secrets are meant to be small", maxInput>>20)
	}
	return b, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, cmdutil.Usagef("--from-file %s: no such file", name)
		}
		return nil, fmt.Errorf("--from-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxInput {
		return nil, cmdutil.Usagef("%s is larger than %d MiB; secrets are meant to be small", name, maxInput>>20)
	}
	return b, nil
}
