package cmdutil

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/pkg/keypair"
)

// Environment variables of the client commands (SPEC §4).
const (
	EnvEndpoint    = "NOSANA_SECRETS_ENDPOINT"
	EnvKeypair     = keypair.EnvVar
	EnvKeypairJSON = keypair.EnvJSON
	EnvLegacyLogin = "NOSANA_SECRETS_LEGACY_LOGIN"
	// EnvToken holds an access token (nst_…): with it, and no --keypair,
	// the commands use it instead of signing in with a keypair.
	EnvToken = "NOSANA_SECRETS_TOKEN"
)

// TokenMargin is how long a cached token must still be valid to be reused.
const TokenMargin = 2 * time.Minute

// Factory hands every verb its dependencies, built lazily and once: the
// streams, the keypair and the API client (with the token cache) for the
// client verbs, the store of serve's settings for the store verbs (backup,
// migrate, restore). Tests fill the fields they need.
type Factory struct {
	IOStreams *IOStreams
	// BindStore adds the store settings' flags (STORAGE_CONNECTION,
	// MASTER_KEY, …) to c and returns the function that opens the store
	// they name; set by package cmd, which knows serve's settings.
	BindStore func(c *cobra.Command) func(ctx context.Context) (*Store, error)
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ConfigDir is where the token cache lives; nil means
	// os.UserConfigDir()/nosana-secrets.
	ConfigDir func() (string, error)
	// HTTPClient, when set, sends the API requests.
	HTTPClient *http.Client

	// Values of the client flags (AddClientFlags).
	endpoint string
	keypair  string
	legacy   bool
	noCache  bool

	mu      sync.Mutex
	kp      *keypair.Keypair
	kpErr   error
	kpDone  bool
	clients map[string]*client.Client
}

// NewFactory is the factory of the real process on ios.
func NewFactory(ios *IOStreams) *Factory { return &Factory{IOStreams: ios} }

func (f *Factory) getenv(k string) string {
	if f.Getenv != nil {
		return f.Getenv(k)
	}
	return os.Getenv(k)
}

// Env reads the environment variable k (Getenv, else os.Getenv).
func (f *Factory) Env(k string) string { return f.getenv(k) }

func (f *Factory) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// AddClientFlags adds --endpoint, --keypair, --legacy-login and --no-cache
// to a command that talks to a server.
func (f *Factory) AddClientFlags(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.endpoint, "endpoint", "", "server URL (env "+EnvEndpoint+", default "+client.DefaultEndpoint+")")
	f.AddKeypairFlag(c)
	fs.BoolVar(&f.legacy, "legacy-login", false, "sign the legacy nosana_secret_<time> challenge, for servers without Sign-In With Solana (env "+EnvLegacyLogin+"=1)")
	fs.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the token cache")
	_ = c.RegisterFlagCompletionFunc("endpoint", cobra.NoFileCompletions)
}

// AddKeypairFlag adds --keypair alone (keygen).
func (f *Factory) AddKeypairFlag(c *cobra.Command) {
	c.Flags().StringVar(&f.keypair, "keypair", "", "Solana keypair file, - to read it from stdin (env "+EnvKeypair+", or the JSON itself in "+EnvKeypairJSON+"; default ~/.config/solana/id.json)")
	_ = c.RegisterFlagCompletionFunc("keypair", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
	})
}

// Endpoint is --endpoint, else $NOSANA_SECRETS_ENDPOINT, else the default.
func (f *Factory) Endpoint() string {
	if f.endpoint != "" {
		return f.endpoint
	}
	if e := strings.TrimSpace(f.getenv(EnvEndpoint)); e != "" {
		return e
	}
	return client.DefaultEndpoint
}

// KeypairFromStdin reports whether --keypair - takes the keypair from stdin,
// which then cannot feed anything else.
func (f *Factory) KeypairFromStdin() bool { return f.keypair == "-" }

// KeypairPath is --keypair, else $NOSANA_SECRETS_KEYPAIR, else the default:
// the file keygen writes.
func (f *Factory) KeypairPath() (string, error) {
	if f.keypair == "-" {
		return "", Usagef("keygen writes a file: give --keypair a path (- reads a keypair from stdin)")
	}
	if f.keypair != "" {
		return expandHome(f.keypair), nil
	}
	if p := f.getenv(EnvKeypair); p != "" {
		return expandHome(p), nil
	}
	return keypair.DefaultPath()
}

// expandHome turns a leading "~/" into the home directory, for paths given
// where no shell expands them (env files, quoted flags).
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + string(os.PathSeparator) + rest
		}
	}
	return p
}

func (f *Factory) legacyLogin() bool {
	if f.legacy {
		return true
	}
	b, err := strconv.ParseBool(f.getenv(EnvLegacyLogin))
	return err == nil && b
}

// Keypair loads the keypair once: from stdin with --keypair -, else the
// file of --keypair, else the JSON in $NOSANA_SECRETS_KEYPAIR_JSON, else the
// file of $NOSANA_SECRETS_KEYPAIR or the default path. It warns on stderr
// when other users can read the file. Its errors carry exit code 4 and
// never show a key.
func (f *Factory) Keypair() (*keypair.Keypair, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kpDone {
		return f.kp, f.kpErr
	}
	f.kpDone = true
	if f.keypair == "-" || f.keypair == "" && f.getenv(EnvKeypairJSON) != "" {
		var kp *keypair.Keypair
		var err error
		if f.keypair == "-" {
			kp, err = keypair.Read("the keypair on stdin (--keypair -)", f.IOStreams.In)
		} else {
			kp, err = keypair.Parse("the keypair in $"+EnvKeypairJSON, []byte(f.getenv(EnvKeypairJSON)))
		}
		if err != nil {
			f.kpErr = WithCode(ExitAuth, err)
			return nil, f.kpErr
		}
		f.kp = kp
		return kp, nil
	}
	path, err := f.KeypairPath()
	if err != nil {
		f.kpErr = WithCode(ExitAuth, err)
		return nil, f.kpErr
	}
	kp, err := keypair.Load(path)
	if err != nil {
		f.kpErr = WithCode(ExitAuth, err)
		return nil, f.kpErr
	}
	if mode, loose := keypair.LooseMode(path); loose {
		f.IOStreams.Warnf("keypair file %s can be read by other users (mode %04o); run: chmod 600 %s", path, mode, path)
	}
	f.kp = kp
	return kp, nil
}

// Client returns the API client signed in as the keypair (job-scoped when
// job is set). It reuses a cached token while it is valid for TokenMargin
// and caches the tokens it obtains.
func (f *Factory) Client(job string) (*client.Client, error) {
	f.mu.Lock()
	if c, ok := f.clients[job]; ok {
		f.mu.Unlock()
		return c, nil
	}
	f.mu.Unlock()
	if tok := f.AccessToken(); tok != "" && job == "" {
		return f.cacheClient(job, client.Config{Endpoint: f.Endpoint(), HTTPClient: f.HTTPClient, Token: tok})
	}
	kp, err := f.Keypair()
	if err != nil {
		return nil, err
	}
	endpoint := f.Endpoint()
	u, err := client.ParseEndpoint(endpoint)
	if err != nil {
		return nil, Usagef("%v; set --endpoint or %s", err, EnvEndpoint)
	}
	endpoint = strings.TrimSuffix(u.String(), "/")
	cache := f.tokenCache()
	cfg := client.Config{
		Endpoint:   endpoint,
		HTTPClient: f.HTTPClient,
		Signer:     kp,
		Job:        job,
		Legacy:     f.legacyLogin(),
		Now:        f.Now,
	}
	if cache != nil {
		if tok := cache.Load(endpoint, kp.Address(), job); tok.ValidFor(f.now(), TokenMargin) {
			cfg.Token = tok.Raw
		}
		cfg.OnLogin = func(tok *client.Token) {
			if err := cache.Save(endpoint, kp.Address(), job, tok); err != nil {
				f.IOStreams.Warnf("could not cache the token (%v); each command will sign in again", err)
			}
		}
	}
	return f.cacheClient(job, cfg)
}

// AccessToken is $NOSANA_SECRETS_TOKEN unless --keypair is given.
func (f *Factory) AccessToken() string {
	if f.keypair != "" {
		return ""
	}
	return strings.TrimSpace(f.getenv(EnvToken))
}

func (f *Factory) cacheClient(job string, cfg client.Config) (*client.Client, error) {
	c, err := client.New(cfg)
	if err != nil {
		if _, perr := client.ParseEndpoint(cfg.Endpoint); perr != nil {
			return nil, Usagef("%v; set --endpoint or %s", perr, EnvEndpoint)
		}
		return nil, err
	}
	f.mu.Lock()
	if f.clients == nil {
		f.clients = map[string]*client.Client{}
	}
	f.clients[job] = c
	f.mu.Unlock()
	return c, nil
}

func (f *Factory) tokenCache() *TokenCache {
	if f.noCache {
		return nil
	}
	var dir string
	var err error
	if f.ConfigDir != nil {
		dir, err = f.ConfigDir()
	} else {
		dir, err = os.UserConfigDir()
		if err == nil {
			dir = dir + string(os.PathSeparator) + "nosana-secrets"
		}
	}
	if err != nil || dir == "" {
		return nil
	}
	return &TokenCache{Dir: dir, Now: f.now}
}

// Warnf prints "warning: …" to stderr, in yellow when colour is enabled.
func (s *IOStreams) Warnf(format string, args ...any) {
	label := "warning:"
	if s.ColorEnabled() {
		label = "\x1b[33mwarning:\x1b[0m"
	}
	fmt.Fprintf(s.ErrOut, "nosana-secrets: %s %s\n", label, TerminalSafe(fmt.Sprintf(format, args...), false))
}

// Infof prints a message for the person at the terminal to stderr, with
// characters that could act on the terminal escaped.
func (s *IOStreams) Infof(format string, args ...any) {
	fmt.Fprintln(s.ErrOut, TerminalSafe(fmt.Sprintf(format, args...), true))
}

// CompleteKeys completes secret keys from the server (at most max
// arguments; -1 for any number). Failures complete nothing, quietly.
func (f *Factory) CompleteKeys(max int) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if max >= 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl, err := f.Client("")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		secrets, err := cl.List(ctx, toComplete)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		keys := make([]string, 0, len(secrets))
		for k := range secrets {
			if !slices.Contains(args, k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return keys, cobra.ShellCompDirectiveNoFileComp
	}
}
