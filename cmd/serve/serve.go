// Package serve is the `serve` command: the composition root that reads the
// configuration (config.go), opens the storage stack and runs the server.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/buildinfo"
	"github.com/nosana-ci/nosana-secrets/internal/gctune"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/ratelimit"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/server"
)

// NewCmdServe is the serve command.
func NewCmdServe(ios *cmdutil.IOStreams) *cobra.Command {
	v := viper.New()
	var dev bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the secret manager's HTTP API (port 4124)",
		Long: "Run the secret manager's HTTP API until SIGINT or SIGTERM.\n\n" +
			"Every flag can also be set by the environment variable shown in its help; a flag wins.",
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := Decode(v, false)
			if err != nil {
				return err
			}
			cfg.Dev = dev
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, cfg, ios.ErrOut)
		},
	}
	Bind(v, c.Flags(), false)
	c.Flags().BoolVar(&dev, "dev", false, "development server: in-memory storage that nothing persists, random master key and JWT secret, loopback only")
	return c
}

// OpenStore opens the whole storage stack (see stack.Open) of a store
// that must exist already, as the maintenance commands do: plaintext above,
// sealed below, the key checked. A store that is not there is a
// *stack.NoStoreError, exit 3 (not found).
func OpenStore(ctx context.Context, cfg StoreConfig, log *slog.Logger) (*seal.Store, error) {
	o := storeOptions(cfg, log)
	o.MustExist = !cfg.Create
	s, err := stack.Open(ctx, cfg.URI, o)
	var nse *stack.NoStoreError
	if errors.As(err, &nse) {
		return nil, cmdutil.WithCode(cmdutil.ExitNotFound, err)
	}
	return s, err
}

func storeOptions(cfg StoreConfig, log *slog.Logger) stack.Options {
	return stack.Options{MasterKeys: cfg.MasterKeys, Logger: log, CallTimeout: cfg.CallTimeout,
		RedisWaitReplicas: cfg.RedisWaitReplicas}
}

// devBanner is what `serve --dev` says once it listens.
const devBanner = `
==> nosana-secrets development server on %s
    Storage is in memory: NOTHING PERSISTS; every secret is gone when it stops.
    The master key and JWT secret are random, made for this process.
    Do not use it for real secrets. Point the CLI at it with:
        export NOSANA_SECRETS_ENDPOINT=%s

`

// gcFloor is how far a small heap may grow between collections (see
// gctune). At serve's usual live heap of ~5 MiB, GOGC=100 alone collects
// every ~2,000 GETs; 10 MiB halves that work and keeps bench/run.sh's peak
// RSS under its 60 MiB goal. GOGC in the environment turns it off.
const gcFloor = 10 << 20

// Run opens the store, serves until ctx is done, then closes the store
// after the last request has finished.
func Run(ctx context.Context, cfg Config, logOut io.Writer) error {
	log, closeLog := cfg.Store.Logger(logOut)
	defer closeLog()
	version, _, _ := buildinfo.Info()
	defer gctune.Start(gcFloor)()

	chain, err := solana.NewClient(cfg.Solana, nil)
	if err != nil {
		return err
	}
	docs, err := ipfs.NewClient(ipfs.Config{Gateway: cfg.IPFSGateway, SkipVerify: !cfg.IPFSVerify})
	if err != nil {
		return cmdutil.Usagef("IPFS_GATEWAY: %v", err)
	}
	// The port first: a server that cannot listen creates no store.
	addr := cfg.listenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close() // on the way out of a failed start; a no-op after Serve
	opts := storeOptions(cfg.Store, log)
	opts.Quota = cfg.Quota
	store, err := stack.Open(ctx, cfg.Store.URI, opts)
	if err != nil {
		return err
	}
	defer store.Close()

	key := cfg.JWTSecret
	if len(key) == 0 {
		log.Warn("JWT_SECRET is not set: using a random key, so tokens die with this process and differ between replicas")
		key = auth.RandomKey()
	}
	tokens, err := auth.NewTokens(key, auth.DefaultTokenTTL, nil)
	if err != nil {
		return err
	}
	limiter := ratelimit.New(store, ratelimit.Options{Window: cfg.LimitWindow, Sync: cfg.LimitSync, Logger: log})
	defer limiter.Close()
	limits := cfg.Limits
	limits.Limiter = limiter

	audiences, err := signInAudiences(cfg.PublicURL, ln.Addr())
	if err != nil {
		return err
	}
	if cfg.PublicURL == "" {
		log.Warn("PUBLIC_URL is not set: sign-in messages are accepted only for loopback URLs of this port; set PUBLIC_URL to the URL clients use",
			"accepted", audiences[0].URI)
	}
	if !cfg.IPFSVerify {
		log.Warn("IPFS_VERIFY is false: job documents are not checked against the chain, so the IPFS gateway decides what each job may read")
	}
	if !cfg.LegacyLogin {
		log.Info("legacy login is off: only Sign-In With Solana messages are accepted")
	}
	srv, err := server.New(server.Options{
		Store:              store,
		Tokens:             tokens,
		Logger:             log,
		LoginWindow:        cfg.LoginWindow,
		BodyLimit:          cfg.BodyLimit,
		Audiences:          audiences,
		DisableLegacyLogin: !cfg.LegacyLogin,
		Jobs:               &jobs.Verifier{Chain: chain, IPFS: docs, ValidFor: validFor(cfg.JobRecheck)},
		Limits:             &limits,
		IPExtractor:        ipExtractor(cfg.TrustedProxies),
		Console:            cfg.UI,
		History:            cfg.History,
		Quota:              cfg.Quota,
		JobDefinitions:     cfg.JobDefinitions,
		PrivateMetrics:     cfg.MetricsListen != "",
		OIDC:               oidcVerifier(cfg.OIDCIssuers),
	})
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen on METRICS_LISTEN %s: %w", cfg.MetricsListen, err)
		}
		log.Info("serving /metrics", "addr", mln.Addr().String())
		go func() {
			if err := srv.ServeMetrics(ctx, mln); err != nil {
				log.Error("metrics listener stopped", "error", err.Error())
			}
		}()
	}
	log.Info("listening", "addr", ln.Addr().String(), "storage", cfg.Store.Redacted(),
		"solana_network", cfg.Solana.Network, "jobs_program", cfg.Solana.JobsProgram.String(), "version", version)
	if cfg.Dev {
		log.Warn("development server: storage is in memory and nothing persists")
		fmt.Fprintf(logOut, devBanner, ln.Addr(), audiences[0].URI)
	}
	err = srv.Serve(ctx, ln, cfg.ShutdownTimeout)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// oidcVerifier verifies the tokens of issuers; none: nil, OIDC sign-in off.
func oidcVerifier(issuers []string) *oidcauth.Verifier {
	if len(issuers) == 0 {
		return nil
	}
	return oidcauth.New(oidcauth.Config{Issuers: issuers})
}

// ipExtractor trusts X-Forwarded-For only from the given proxies.
func ipExtractor(proxies []*net.IPNet) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(p))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// signInAudiences are the URLs a sign-in message may name: PUBLIC_URL, or
// without it the loopback URLs of the port listened on, which is all a
// client can reach without a configured public name.
func signInAudiences(publicURL string, addr net.Addr) ([]auth.Audience, error) {
	urls := []string{publicURL}
	if publicURL == "" {
		port := strconv.Itoa(addr.(*net.TCPAddr).Port)
		urls = []string{"http://localhost:" + port, "http://127.0.0.1:" + port, "http://[::1]:" + port}
	}
	out := make([]auth.Audience, 0, len(urls))
	for _, u := range urls {
		a, err := auth.NewAudience(u)
		if err != nil {
			return nil, cmdutil.Usagef("%v", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// validFor maps JOB_RECHECK to jobs.Verifier.ValidFor, where 0 means the
// default and a negative value means no cache.
func validFor(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
