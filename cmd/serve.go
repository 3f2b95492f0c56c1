package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/buildinfo"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/ratelimit"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/server"
)

// setting is one serve option: a flag and the environment variable of
// SPEC §3 that sets it (the flag wins).
type setting struct{ key, env, def, usage string }

// storeSettings say where the data is and how it is sealed; serve and
// rekey both read them.
var storeSettings = []setting{
	{"storage-connection", "STORAGE_CONNECTION", "sqlite://db.sqlite", "storage URI: sqlite://, postgres://, mysql://, mongodb://, mongodb+srv://, redis://, rediss://"},
	{"master-key", "MASTER_KEY", "", "base64 master key(s) for encryption at rest, newest first, comma-separated; a flag shows in ps, prefer the env or a file"},
	{"master-key-file", "MASTER_KEY_FILE", "", "file of base64 master keys, one per line, newest first"},
	{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, else json)"},
}

var serveSettings = []setting{
	{"jwt-secret", "JWT_SECRET", "", "token signing key, at least 32 bytes (openssl rand -base64 32; same on every replica); without one tokens die with the process; a flag shows in ps"},
	{"jwt-secret-file", "JWT_SECRET_FILE", "", "file holding the token signing key (keeps it out of ps and the environment)"},
	{"port", "PORT", "4124", "port to listen on, on all interfaces"},
	{"listen", "LISTEN", "", "host:port to listen on; overrides --port"},
	{"public-url", "PUBLIC_URL", "", "URL clients use to reach this server; sign-in messages must name it (default: loopback URLs of the port)"},
	{"legacy-login", "LEGACY_LOGIN", "true", "accept the legacy nosana_secret_<timestamp> challenge (false: only Sign-In With Solana messages)"},
	{"login-window", "LOGIN_WINDOW", "60s", "accepted clock skew of a login timestamp (a duration, or seconds)"},
	{"solana-network", "SOLANA_NETWORK", solana.Mainnet, "mainnet or devnet: picks the RPC URL and jobs program defaults"},
	{"solana-rpc-url", "SOLANA_RPC_URL", "", "Solana JSON-RPC endpoint (default: the network's public endpoint)"},
	{"jobs-program-id", "JOBS_PROGRAM_ID", "", "address of the Nosana jobs program (default: the network's)"},
	{"ipfs-gateway", "IPFS_GATEWAY", ipfs.DefaultGateway, "IPFS gateway base URL for job documents"},
	{"ipfs-verify", "IPFS_VERIFY", "true", "check each job document against the digest on chain (false: trust the gateway)"},
	{"job-recheck", "JOB_RECHECK", "15s", "how long a running job's check is trusted before a job token's read asks the chain again (0 to 15s)"},
	{"rate-limit-login-ip", "RATE_LIMIT_LOGIN_IP", "300", "logins per window from one client IP (0: no limit)"},
	{"rate-limit-login-address", "RATE_LIMIT_LOGIN_ADDRESS", "60", "verified logins per window of one wallet (0: no limit)"},
	{"rate-limit-secrets-ip", "RATE_LIMIT_SECRETS_IP", "6000", "/secrets requests per window from one client IP (0: no limit)"},
	{"rate-limit-secrets-address", "RATE_LIMIT_SECRETS_ADDRESS", "3000", "/secrets requests per window of one wallet (0: no limit)"},
	{"rate-limit-window", "RATE_LIMIT_WINDOW", "60s", "length of a rate-limit window"},
	{"rate-limit-sync", "RATE_LIMIT_SYNC", "250ms", "how often counts are shared through the store; 0: on every request (exact, slower)"},
	{"trusted-proxies", "TRUSTED_PROXIES", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client IP"},
	{"metrics-listen", "METRICS_LISTEN", "", "host:port to serve /metrics on instead of the public port, e.g. 127.0.0.1:9124"},
	{"body-limit", "BODY_LIMIT", strconv.Itoa(server.DefaultBodyLimit), "largest request body in bytes; larger is answered 413"},
	{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "30s", "how long requests in flight may finish after SIGINT/SIGTERM"},
	{"ui", "UI", "true", "serve the web console at /ui/ (false: the API only)"},
	{"history", "HISTORY", "true", "keep versions of every secret and an audit trail per owner (sqlite, PostgreSQL, MySQL, memory); false: overwrites and deletes are final"},
	{"max-versions", "MAX_VERSIONS", strconv.Itoa(server.DefaultMaxVersions), "versions kept per key"},
	{"deleted-retention", "DELETED_RETENTION", "720h", "how long deleted keys and old versions are kept before they are purged"},
	{"audit-retention", "AUDIT_RETENTION", "2160h", "how long audit events are kept"},
}

// bindSettings adds each setting to fs and binds it to its flag and its
// environment variable in v.
func bindSettings(v *viper.Viper, fs *pflag.FlagSet, settings []setting) {
	for _, s := range settings {
		fs.String(s.key, s.def, s.usage+" (env "+s.env+")")
		_ = v.BindPFlag(s.key, fs.Lookup(s.key))
		_ = v.BindEnv(s.key, s.env)
	}
}

// serveConfig is the decoded, validated configuration of serve.
type serveConfig struct {
	store           storeConfig
	JWTSecret       []byte
	Listen          string
	MetricsListen   string
	PublicURL       string
	LegacyLogin     bool
	LoginWindow     time.Duration
	Solana          solana.Config
	IPFSGateway     string
	IPFSVerify      bool
	JobRecheck      time.Duration
	Limits          server.Limits
	LimitWindow     time.Duration
	LimitSync       time.Duration
	TrustedProxies  []*net.IPNet
	BodyLimit       int64
	ShutdownTimeout time.Duration
	Dev             bool
	UI              bool
	History         server.HistoryOptions
}

func newServeCmd(ios *cmdutil.IOStreams) *cobra.Command {
	v := viper.New()
	var dev bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the secret manager's HTTP API (port 4124)",
		Long: "Run the secret manager's HTTP API until SIGINT or SIGTERM.\n\n" +
			"Every flag can also be set by the environment variable shown in its help; a flag wins.",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dev {
				// Configured storage and keys are ignored, not read.
				for _, k := range []string{"master-key", "master-key-file", "jwt-secret", "jwt-secret-file"} {
					v.Set(k, "")
				}
				v.Set("storage-connection", "memory://")
			}
			cfg, err := loadServeConfig(v)
			if err != nil {
				return err
			}
			if dev {
				if cfg, err = devConfig(cfg); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, ios.ErrOut)
		},
	}
	bindSettings(v, c.Flags(), storeSettings)
	bindSettings(v, c.Flags(), serveSettings)
	c.Flags().BoolVar(&dev, "dev", false, "development server: in-memory storage that nothing persists, random master key and JWT secret, loopback only")
	return c
}

// devConfig turns cfg into a development server's: memory storage, a
// random JWT secret (the memory store makes its own master key), and a
// loopback address.
func devConfig(cfg serveConfig) (serveConfig, error) {
	cfg.Dev = true
	cfg.JWTSecret = auth.RandomKey()
	host, port, _ := net.SplitHostPort(cfg.Listen)
	switch ip := net.ParseIP(host); {
	case host == "":
		cfg.Listen = net.JoinHostPort("127.0.0.1", port)
	case host == "localhost", ip != nil && ip.IsLoopback():
	default:
		return cfg, cmdutil.Usagef("--dev listens on loopback only: %q is not a loopback address (use 127.0.0.1, [::1] or localhost)", host)
	}
	return cfg, nil
}

// devBanner is what `serve --dev` says once it listens.
const devBanner = `
==> nosana-secrets development server on %s
    Storage is in memory: NOTHING PERSISTS; every secret is gone when it stops.
    The master key and JWT secret are random, made for this process.
    Do not use it for real secrets. Point the CLI at it with:
        export NOSANA_SECRETS_ENDPOINT=%s

`

func loadServeConfig(v *viper.Viper) (serveConfig, error) {
	var cfg serveConfig
	var err error
	if cfg.store, err = loadStoreConfig(v); err != nil {
		return cfg, err
	}
	if cfg.JWTSecret, err = secretSetting(v, "jwt-secret", "JWT_SECRET"); err != nil {
		return cfg, err
	}
	if len(cfg.JWTSecret) > 0 {
		if err := auth.CheckKey(cfg.JWTSecret); err != nil {
			name := "JWT_SECRET"
			if f := v.GetString("jwt-secret-file"); f != "" {
				name = "JWT_SECRET_FILE " + f
			}
			return cfg, cmdutil.Usagef("%s: %v", name, err)
		}
	}
	cfg.Listen = v.GetString("listen")
	if cfg.Listen == "" {
		port, err := strconv.Atoi(v.GetString("port"))
		if err != nil || port < 0 || port > 65535 {
			return cfg, cmdutil.Usagef("PORT %q is not a port number", v.GetString("port"))
		}
		cfg.Listen = ":" + strconv.Itoa(port)
	} else if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return cfg, cmdutil.Usagef("--listen %q is not host:port", cfg.Listen)
	}
	if cfg.MetricsListen = v.GetString("metrics-listen"); cfg.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
			return cfg, cmdutil.Usagef("METRICS_LISTEN %q is not host:port", cfg.MetricsListen)
		}
	}
	if cfg.PublicURL = strings.TrimSpace(v.GetString("public-url")); cfg.PublicURL != "" {
		if _, err := auth.NewAudience(cfg.PublicURL); err != nil {
			return cfg, cmdutil.Usagef("%v", err)
		}
	}
	if cfg.LegacyLogin, err = strconv.ParseBool(v.GetString("legacy-login")); err != nil {
		return cfg, cmdutil.Usagef("LEGACY_LOGIN %q must be true or false", v.GetString("legacy-login"))
	}
	if cfg.Solana, err = solana.Resolve(v.GetString("solana-network"), v.GetString("solana-rpc-url"), v.GetString("jobs-program-id")); err != nil {
		return cfg, cmdutil.Usagef("%v", err)
	}
	cfg.IPFSGateway = v.GetString("ipfs-gateway")
	if cfg.IPFSVerify, err = strconv.ParseBool(v.GetString("ipfs-verify")); err != nil {
		return cfg, cmdutil.Usagef("IPFS_VERIFY %q must be true or false", v.GetString("ipfs-verify"))
	}
	if cfg.JobRecheck, err = parseSeconds("JOB_RECHECK", v.GetString("job-recheck"), true); err != nil || cfg.JobRecheck > jobs.DefaultValidFor {
		return cfg, cmdutil.Usagef("JOB_RECHECK %q must be a duration from 0 to %s", v.GetString("job-recheck"), jobs.DefaultValidFor)
	}
	if cfg.LoginWindow, err = parseSeconds("LOGIN_WINDOW", v.GetString("login-window"), false); err != nil {
		return cfg, err
	}
	for _, l := range []struct {
		dst       *int64
		key, name string
	}{
		{&cfg.Limits.LoginIP, "rate-limit-login-ip", "RATE_LIMIT_LOGIN_IP"},
		{&cfg.Limits.LoginAddress, "rate-limit-login-address", "RATE_LIMIT_LOGIN_ADDRESS"},
		{&cfg.Limits.SecretsIP, "rate-limit-secrets-ip", "RATE_LIMIT_SECRETS_IP"},
		{&cfg.Limits.SecretsAddress, "rate-limit-secrets-address", "RATE_LIMIT_SECRETS_ADDRESS"},
	} {
		if *l.dst, err = strconv.ParseInt(v.GetString(l.key), 10, 64); err != nil || *l.dst < 0 {
			return cfg, cmdutil.Usagef("%s %q must be a number of requests, 0 for no limit", l.name, v.GetString(l.key))
		}
	}
	if cfg.LimitWindow, err = parseSeconds("RATE_LIMIT_WINDOW", v.GetString("rate-limit-window"), false); err != nil {
		return cfg, err
	}
	if cfg.LimitSync, err = parseSeconds("RATE_LIMIT_SYNC", v.GetString("rate-limit-sync"), true); err != nil {
		return cfg, err
	}
	for _, p := range strings.Split(v.GetString("trusted-proxies"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return cfg, cmdutil.Usagef("TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", p)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, n)
	}
	if cfg.ShutdownTimeout, err = parseSeconds("SHUTDOWN_TIMEOUT", v.GetString("shutdown-timeout"), false); err != nil {
		return cfg, err
	}
	if cfg.UI, err = strconv.ParseBool(v.GetString("ui")); err != nil {
		return cfg, cmdutil.Usagef("UI %q must be true or false", v.GetString("ui"))
	}
	if cfg.BodyLimit, err = strconv.ParseInt(v.GetString("body-limit"), 10, 64); err != nil || cfg.BodyLimit < 1024 {
		return cfg, cmdutil.Usagef("BODY_LIMIT %q must be a number of bytes, at least 1024", v.GetString("body-limit"))
	}
	if cfg.History, err = historySettings(v); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// secretSetting reads a secret from its setting or from the file named by
// the setting key+"-file"; not both.
func secretSetting(v *viper.Viper, key, env string) ([]byte, error) {
	val, file := v.GetString(key), v.GetString(key+"-file")
	if file == "" {
		return []byte(val), nil
	}
	if val != "" {
		return nil, cmdutil.Usagef("set %s or %s_FILE, not both", env, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s_FILE: %w", env, err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s_FILE %s is empty", env, file)
	}
	return b, nil
}

// parseSeconds reads a duration given as "90s", "2m" or plain seconds;
// zero is accepted only when zeroOK.
func parseSeconds(name, s string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if n, nerr := strconv.Atoi(s); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, cmdutil.Usagef("%s %q must be a positive duration like 60s, or seconds", name, s)
	}
	return d, nil
}

// runServe opens the store, serves until ctx is done, then closes the store
// after the last request has finished.
func runServe(ctx context.Context, cfg serveConfig, logOut io.Writer) error {
	log, closeLog := cfg.store.logger(logOut)
	defer closeLog()
	version, _, _ := buildinfo.Info()

	chain, err := solana.NewClient(cfg.Solana, nil)
	if err != nil {
		return err
	}
	docs, err := ipfs.NewClient(ipfs.Config{Gateway: cfg.IPFSGateway, SkipVerify: !cfg.IPFSVerify})
	if err != nil {
		return cmdutil.Usagef("IPFS_GATEWAY: %v", err)
	}
	store, err := openStore(ctx, cfg.store, log)
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

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
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
		PrivateMetrics:     cfg.MetricsListen != "",
		History:            cfg.History,
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
	log.Info("listening", "addr", ln.Addr().String(), "storage", cfg.store.redacted(),
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

// historySettings reads HISTORY, MAX_VERSIONS, DELETED_RETENTION and
// AUDIT_RETENTION.
func historySettings(v *viper.Viper) (server.HistoryOptions, error) {
	var h server.HistoryOptions
	on, err := strconv.ParseBool(v.GetString("history"))
	if err != nil {
		return h, cmdutil.Usagef("HISTORY %q must be true or false", v.GetString("history"))
	}
	h.Off = !on
	if h.MaxVersions, err = strconv.Atoi(v.GetString("max-versions")); err != nil || h.MaxVersions < 1 {
		return h, cmdutil.Usagef("MAX_VERSIONS %q must be a number of versions, at least 1", v.GetString("max-versions"))
	}
	if h.DeletedRetention, err = parseSeconds("DELETED_RETENTION", v.GetString("deleted-retention"), false); err != nil {
		return h, err
	}
	if h.AuditRetention, err = parseSeconds("AUDIT_RETENTION", v.GetString("audit-retention"), false); err != nil {
		return h, err
	}
	return h, nil
}
