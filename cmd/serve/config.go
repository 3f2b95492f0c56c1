package serve

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/internal/jsonlog"
	"github.com/nosana-ci/nosana-secrets/internal/logbuf"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/server"
)

// Config is the decoded configuration of serve (and, its Store part, of
// rekey). Load fills it from flags and the environment; Validate checks
// what no single field can.
type Config struct {
	Store StoreConfig

	JWTSecret       []byte // from JWT_SECRET or JWT_SECRET_FILE
	Port            int
	Listen          string // host:port; "" means all interfaces on Port
	MetricsListen   string // host:port of a separate /metrics listener; "" means the public port
	PublicURL       string
	LegacyLogin     bool
	LoginWindow     time.Duration
	SolanaNetwork   string
	SolanaRPCURL    string
	JobsProgramID   string
	IPFSGateway     string
	IPFSVerify      bool
	JobRecheck      time.Duration
	JobDefinitions  server.JobDefinitionOptions
	Limits          server.Limits // without its Limiter
	LimitWindow     time.Duration
	LimitSync       time.Duration
	TrustedProxies  []*net.IPNet
	BodyLimit       int64
	ShutdownTimeout time.Duration
	Dev             bool
	UI              bool // serve the web console at /ui/
	History         server.HistoryOptions
	Quota           storage.Quota // per owner, enforced by the store
	OIDCIssuers     []string      // issuers trusts may name (issue 23); empty: none

	Solana solana.Config // resolved from the three Solana settings by Validate

	secrets secretFiles
}

// StoreConfig is where the data lives, how it is sealed and how to log.
type StoreConfig struct {
	URI        string
	MasterKeys [][]byte // newest first; empty: a key file beside an sqlite database
	LogLevel   slog.Level
	LogJSON    bool
	// CallTimeout bounds each storage call (storage.Bounded).
	CallTimeout time.Duration
	// RedisWaitReplicas > 0: each Redis write waits for that many replicas.
	RedisWaitReplicas int
	// Create lets OpenStore make a store that does not exist yet (migrate
	// --create); the other maintenance commands never do.
	Create bool

	secrets secretFiles
}

// secretFiles are the raw secret settings, resolved by Validate: a value
// may come from the setting or from the file its _FILE setting names.
type secretFiles struct{ value, file string }

// Setting is one option: its flag, its environment variable (SPEC §3), its
// default and help, and how its text becomes a field of Config. A flag wins
// over the environment.
type Setting struct {
	Flag, Env, Default, Help string
	// Store settings are read by rekey too.
	Store bool
	parse func(c *Config, s string) error
}

// Settings are every option of serve, in the order of its help.
var Settings = []Setting{
	{"storage-connection", "STORAGE_CONNECTION", "sqlite://db.sqlite", "storage URI: sqlite://, postgres://, mysql://, mongodb://, mongodb+srv://, redis://, rediss://, redis+cluster://, redis+sentinel://, memory://", true,
		func(c *Config, s string) error { c.Store.URI = strings.TrimSpace(s); return nil }},
	{"master-key", "MASTER_KEY", "", "base64 master key(s) for encryption at rest, newest first, comma-separated; a flag shows in ps, prefer the env or a file", true,
		func(c *Config, s string) error { c.Store.secrets.value = s; return nil }},
	{"master-key-file", "MASTER_KEY_FILE", "", "file of base64 master keys, one per line, newest first", true,
		func(c *Config, s string) error { c.Store.secrets.file = s; return nil }},
	{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error", true, parseLogLevel},
	{"log-format", "LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, else json)", true, parseLogFormat},
	{"store-timeout", "STORE_TIMEOUT", "10s", "longest wait for one storage call; a request whose store does not answer in time gets 503", true,
		durationField("STORE_TIMEOUT", false, func(c *Config) *time.Duration { return &c.Store.CallTimeout })},
	{"redis-wait-replicas", "REDIS_WAIT_REPLICAS", "0", "Redis only: after each write, WAIT for this many replicas to have it (up to 1 s, sooner at the request's deadline); a write not replicated in time is a 503; 0: do not wait", true, parseWaitReplicas},
	{"jwt-secret", "JWT_SECRET", "", "token signing key, at least 32 random bytes (head -c 32 /dev/urandom | base64; same on every replica; a repeated pattern, fewer than 8 distinct bytes or a changeme/secret/password placeholder is refused); without one tokens die with the process; a flag shows in ps", false,
		func(c *Config, s string) error { c.secrets.value = s; return nil }},
	{"jwt-secret-file", "JWT_SECRET_FILE", "", "file holding the token signing key (keeps it out of ps and the environment)", false,
		func(c *Config, s string) error { c.secrets.file = s; return nil }},
	{"port", "PORT", "4124", "port to listen on, on all interfaces", false, parsePort},
	{"listen", "LISTEN", "", "host:port to listen on; overrides --port", false,
		hostPortField("--listen", func(c *Config) *string { return &c.Listen })},
	{"public-url", "PUBLIC_URL", "", "URL clients use to reach this server; sign-in messages must name it (default: loopback URLs of the port)", false, parsePublicURL},
	{"oidc-issuers", "OIDC_ISSUERS", oidcauth.GitHubIssuer, "comma-separated https URLs of the OIDC issuers whose tokens trusts may accept (POST /v1/auth/oidc); discovery and keys are fetched over HTTPS with the system's CA pool (SSL_CERT_FILE); \"none\" turns OIDC sign-in off", false, parseOIDCIssuers},
	{"legacy-login", "LEGACY_LOGIN", "true", "accept the legacy nosana_secret_<timestamp> challenge (false: only Sign-In With Solana messages)", false,
		boolField("LEGACY_LOGIN", func(c *Config) *bool { return &c.LegacyLogin })},
	{"login-window", "LOGIN_WINDOW", "60s", "accepted clock skew of a login timestamp (a duration, or seconds)", false,
		durationField("LOGIN_WINDOW", false, func(c *Config) *time.Duration { return &c.LoginWindow })},
	{"solana-network", "SOLANA_NETWORK", solana.Mainnet, "mainnet or devnet: picks the RPC URL and jobs program defaults", false,
		func(c *Config, s string) error { c.SolanaNetwork = s; return nil }},
	{"solana-rpc-url", "SOLANA_RPC_URL", "", "Solana JSON-RPC endpoint (default: the network's public endpoint)", false,
		func(c *Config, s string) error { c.SolanaRPCURL = s; return nil }},
	{"jobs-program-id", "JOBS_PROGRAM_ID", "", "address of the Nosana jobs program (default: the network's)", false,
		func(c *Config, s string) error { c.JobsProgramID = s; return nil }},
	{"ipfs-gateway", "IPFS_GATEWAY", ipfs.DefaultGateway, "IPFS gateway base URL for job documents", false,
		func(c *Config, s string) error { c.IPFSGateway = s; return nil }},
	{"ipfs-verify", "IPFS_VERIFY", "true", "check each job document against the digest on chain (false: trust the gateway)", false,
		boolField("IPFS_VERIFY", func(c *Config) *bool { return &c.IPFSVerify })},
	{"job-recheck", "JOB_RECHECK", "15s", "how long a running job's check is trusted before a job token's read asks the chain again (0 to 15s)", false, parseJobRecheck},
	{"job-definition-fetches", "JOB_DEFINITION_FETCHES", "8", "answered fetches of one job's confidential definition, across replicas (today's node tries 4 times and may restart once)", false, parseDefinitionFetches},
	{"job-result-window", "JOB_RESULT_WINDOW", "1h", "how long after a job ended its node may still post the result", false,
		durationField("JOB_RESULT_WINDOW", false, func(c *Config) *time.Duration { return &c.JobDefinitions.ResultWindow })},
	{"rate-limit-login-ip", "RATE_LIMIT_LOGIN_IP", "300", "logins per window from one client IP (0: no limit)", false,
		limitField("RATE_LIMIT_LOGIN_IP", func(c *Config) *int64 { return &c.Limits.LoginIP })},
	{"rate-limit-login-address", "RATE_LIMIT_LOGIN_ADDRESS", "60", "verified logins per window of one wallet (0: no limit)", false,
		limitField("RATE_LIMIT_LOGIN_ADDRESS", func(c *Config) *int64 { return &c.Limits.LoginAddress })},
	{"rate-limit-secrets-ip", "RATE_LIMIT_SECRETS_IP", "6000", "/secrets requests per window from one client IP (0: no limit)", false,
		limitField("RATE_LIMIT_SECRETS_IP", func(c *Config) *int64 { return &c.Limits.SecretsIP })},
	{"rate-limit-secrets-address", "RATE_LIMIT_SECRETS_ADDRESS", "3000", "/secrets requests per window of one wallet (0: no limit)", false,
		limitField("RATE_LIMIT_SECRETS_ADDRESS", func(c *Config) *int64 { return &c.Limits.SecretsAddress })},
	{"rate-limit-window", "RATE_LIMIT_WINDOW", "60s", "length of a rate-limit window", false,
		durationField("RATE_LIMIT_WINDOW", false, func(c *Config) *time.Duration { return &c.LimitWindow })},
	{"rate-limit-sync", "RATE_LIMIT_SYNC", "250ms", "how often counts are shared through the store; 0: on every request (exact, slower)", false,
		durationField("RATE_LIMIT_SYNC", true, func(c *Config) *time.Duration { return &c.LimitSync })},
	{"trusted-proxies", "TRUSTED_PROXIES", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client IP", false, parseProxies},
	{"metrics-listen", "METRICS_LISTEN", "", "host:port to serve /metrics on instead of the public port, e.g. 127.0.0.1:9124", false,
		hostPortField("METRICS_LISTEN", func(c *Config) *string { return &c.MetricsListen })},
	{"body-limit", "BODY_LIMIT", strconv.Itoa(server.DefaultBodyLimit), "largest request body in bytes; larger is answered 413", false, parseBodyLimit},
	{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "30s", "how long requests in flight may finish after SIGINT/SIGTERM", false,
		durationField("SHUTDOWN_TIMEOUT", false, func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"ui", "UI", "true", "serve the web console at /ui/ (false: the API only)", false,
		boolField("UI", func(c *Config) *bool { return &c.UI })},
	{"history", "HISTORY", "true", "keep versions of every secret and an audit trail per owner (every backend); false: overwrites and deletes are final", false,
		func(c *Config, s string) error {
			on, err := strconv.ParseBool(s)
			if err != nil {
				return cmdutil.Usagef("HISTORY %q must be true or false", s)
			}
			c.History.Off = !on
			return nil
		}},
	{"max-versions", "MAX_VERSIONS", strconv.Itoa(server.DefaultMaxVersions), "versions kept per key", false,
		func(c *Config, s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return cmdutil.Usagef("MAX_VERSIONS %q must be a number of versions, at least 1", s)
			}
			c.History.MaxVersions = n
			return nil
		}},
	{"deleted-retention", "DELETED_RETENTION", "720h", "how long deleted keys and old versions are kept before they are purged", false,
		durationField("DELETED_RETENTION", false, func(c *Config) *time.Duration { return &c.History.DeletedRetention })},
	{"audit-retention", "AUDIT_RETENTION", "2160h", "how long audit events are kept", false,
		durationField("AUDIT_RETENTION", false, func(c *Config) *time.Duration { return &c.History.AuditRetention })},
	{"audit-coalesce", "AUDIT_COALESCE", "10s", "window in which repeated reads of one key by one reader are stored as one event with a count (0: off; at most 1m)", false,
		func(c *Config, s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > storage.AuditSkew {
				return cmdutil.Usagef("AUDIT_COALESCE %q must be a duration from 0 to 1m, such as 10s", s)
			}
			c.History.AuditCoalesce = d
			return nil
		}},
	{"audit-quota", "AUDIT_QUOTA", "32MiB", "bytes of audit events kept per owner; past it the oldest are trimmed, nothing is refused (0: no limit)", false,
		func(c *Config, s string) error {
			n, err := humanize.ParseBytes(s)
			if err != nil || n > 1<<62 || n != 0 && n < 64<<10 {
				return cmdutil.Usagef("AUDIT_QUOTA %q must be a size in bytes of at least 64KiB, such as 32MiB, or 0 for no limit", s)
			}
			c.Quota.AuditBytes = int64(n)
			return nil
		}},
	{"quota-secrets", "QUOTA_SECRETS", "10000", "keys per owner, counting deleted keys until purged (0: no limit)", false,
		func(c *Config, s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return cmdutil.Usagef("QUOTA_SECRETS %q must be a number of keys, 0 for no limit", s)
			}
			c.Quota.Secrets = n
			return nil
		}},
	{"quota-bytes", "QUOTA_BYTES", "64MiB", "encrypted bytes per owner of every kept version, e.g. 67108864 or 64MiB (0: no limit)", false,
		func(c *Config, s string) error {
			n, err := humanize.ParseBytes(s)
			if err != nil || n > 1<<62 {
				return cmdutil.Usagef("QUOTA_BYTES %q must be a size in bytes such as 67108864 or 64MiB, 0 for no limit", s)
			}
			c.Quota.Bytes = int64(n)
			return nil
		}},
}

// Env lists the environment variables serve reads, for test harnesses that
// clear them from an inherited environment.
func Env() []string {
	out := make([]string, len(Settings))
	for i, s := range Settings {
		out[i] = s.Env
	}
	return out
}

// Bind adds the settings to fs (only the Store ones when storeOnly) and
// binds each to its flag and its environment variable in v.
func Bind(v *viper.Viper, fs *pflag.FlagSet, storeOnly bool) {
	for _, s := range Settings {
		if storeOnly && !s.Store {
			continue
		}
		f := fs.VarPF(&settingValue{kind: s.kind(), text: s.Default}, s.Flag, "", s.Help+" (env "+s.Env+")")
		f.DefValue = s.Default
		if f.Value.Type() == "bool" {
			f.NoOptDefVal = "true" // --legacy-login alone is true; it never takes the next argument
		}
		_ = v.BindPFlag(s.Flag, fs.Lookup(s.Flag))
		_ = v.BindEnv(s.Flag, s.Env)
	}
}

// kind is what a setting's value is, as its flag's help names it: bool,
// int, duration, size or string, read off its default (a setting's parser
// checks the value itself, from the flag and the environment alike).
func (s Setting) kind() string {
	d := s.Default
	if _, err := strconv.ParseBool(d); err == nil && (d == "true" || d == "false") {
		return "bool"
	}
	if _, err := strconv.ParseInt(d, 10, 64); err == nil {
		return "int"
	}
	if _, err := time.ParseDuration(d); err == nil {
		return "duration"
	}
	if _, err := humanize.ParseBytes(d); err == nil && strings.ContainsAny(d, "KMGTkmgt") {
		return "size"
	}
	return "string"
}

// settingValue is a setting's flag: typed in help, and for bool and int
// checked as it is parsed (viper reads those kinds through a cast that
// would turn a typo into false or 0); the text goes to the setting's
// parser like the environment's.
type settingValue struct{ kind, text string }

func (v *settingValue) String() string { return v.text }
func (v *settingValue) Type() string   { return v.kind }
func (v *settingValue) Set(s string) error {
	switch v.kind {
	case "bool":
		if _, err := strconv.ParseBool(s); err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
	case "int":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
	}
	v.text = s
	return nil
}

// Decode turns every bound setting of v (only the Store ones when
// storeOnly) into its field of a Config; call Validate next.
func Decode(v *viper.Viper, storeOnly bool) (Config, error) {
	var c Config
	for _, s := range Settings {
		if storeOnly && !s.Store {
			continue
		}
		if err := s.parse(&c, v.GetString(s.Flag)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Validate resolves the secret files (not read with Dev) and checks what
// spans fields.
func (c *Config) Validate() error {
	var err error
	if c.Dev {
		err = c.devOnly()
	} else if err = c.Store.Validate(); err == nil {
		err = c.resolveJWTSecret()
	}
	if err != nil {
		return err
	}
	if c.Solana, err = solana.Resolve(c.SolanaNetwork, c.SolanaRPCURL, c.JobsProgramID); err != nil {
		return cmdutil.Usagef("%v", err)
	}
	return nil
}

// Validate resolves MASTER_KEY(_FILE) and checks the storage URI is set.
func (c *StoreConfig) Validate() error {
	if c.URI == "" {
		return cmdutil.Usagef("STORAGE_CONNECTION is empty; set a storage URI such as sqlite://db.sqlite")
	}
	text, err := c.secrets.resolve("MASTER_KEY")
	if err != nil {
		return err
	}
	if len(text) > 0 {
		if c.MasterKeys, err = seal.ParseKeys(string(text)); err != nil {
			return cmdutil.Usagef("MASTER_KEY: %v", err)
		}
	}
	return nil
}

// resolveJWTSecret reads JWT_SECRET(_FILE) and refuses a short key or one
// that is visibly guessable (weakKey).
func (c *Config) resolveJWTSecret() error {
	var err error
	if c.JWTSecret, err = c.secrets.resolve("JWT_SECRET"); err != nil || len(c.JWTSecret) == 0 {
		return err
	}
	if err := auth.CheckKey(c.JWTSecret); err != nil {
		return cmdutil.Usagef("%s: %v", c.jwtSecretName(), err)
	}
	if why := weakKey(c.JWTSecret); why != "" {
		return cmdutil.Usagef("%s looks guessable: %s; anyone who guesses it can sign tokens for any wallet. "+
			"Use random bytes: head -c 32 /dev/urandom | base64", c.jwtSecretName(), why)
	}
	return nil
}

// jwtSecretName names where the signing key came from, for messages.
func (c *Config) jwtSecretName() string {
	if c.secrets.file != "" {
		return "JWT_SECRET_FILE " + c.secrets.file
	}
	return "JWT_SECRET"
}

// devOnly makes a development server's configuration: memory storage, a
// random JWT secret (the memory store makes its own master key) and a
// loopback address.
func (c *Config) devOnly() error {
	c.Store.URI, c.Store.MasterKeys = "memory://", nil
	c.JWTSecret = auth.RandomKey()
	host, port, _ := net.SplitHostPort(c.listenAddr())
	switch ip := net.ParseIP(host); {
	case host == "":
		c.Listen = net.JoinHostPort("127.0.0.1", port)
	case host == "localhost", ip != nil && ip.IsLoopback():
	default:
		return cmdutil.Usagef("--dev listens on loopback only: %q is not a loopback address (use 127.0.0.1, [::1] or localhost)", host)
	}
	return nil
}

// listenAddr is the address to listen on: LISTEN, or all interfaces on PORT.
func (c *Config) listenAddr() string {
	if c.Listen != "" {
		return c.Listen
	}
	return ":" + strconv.Itoa(c.Port)
}

// resolve reads a secret from its setting or from the file its _FILE
// setting names; not both.
func (f secretFiles) resolve(env string) ([]byte, error) {
	if f.file == "" {
		return []byte(f.value), nil
	}
	if f.value != "" {
		return nil, cmdutil.Usagef("set %s or %s_FILE, not both", env, env)
	}
	b, err := os.ReadFile(f.file)
	if err != nil {
		return nil, fmt.Errorf("read %s_FILE: %w", env, err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s_FILE %s is empty", env, f.file)
	}
	return b, nil
}

// Logger writes to w in batches (see logbuf); call the returned func to
// flush before the process says anything else or exits.
func (c StoreConfig) Logger(w io.Writer) (*slog.Logger, func()) {
	buf := logbuf.New(w, 100*time.Millisecond)
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(buf, opts)
	if c.LogJSON {
		h = jsonlog.New(buf, opts) // slog's JSON, a request line formatted without reflection
	}
	return slog.New(h), func() { _ = buf.Close() }
}

// Redacted is the storage URI without its password, for logs.
func (c StoreConfig) Redacted() string { return backends.Redact(c.URI) }

func parseLogLevel(c *Config, s string) error {
	if err := c.Store.LogLevel.UnmarshalText([]byte(s)); err != nil {
		return cmdutil.Usagef("LOG_LEVEL %q must be debug, info, warn or error", s)
	}
	return nil
}

func parseLogFormat(c *Config, s string) error {
	switch s {
	case "json":
		c.Store.LogJSON = true
	case "text":
	case "auto":
		c.Store.LogJSON = !term.IsTerminal(int(os.Stderr.Fd()))
	default:
		return cmdutil.Usagef("LOG_FORMAT %q must be auto, json or text", s)
	}
	return nil
}

func parsePort(c *Config, s string) error {
	port, err := strconv.Atoi(s)
	if err != nil || port < 0 || port > 65535 {
		return cmdutil.Usagef("PORT %q is not a port number", s)
	}
	c.Port = port
	return nil
}

func parseOIDCIssuers(c *Config, s string) error {
	c.OIDCIssuers = nil
	if s = strings.TrimSpace(s); s == "none" || s == "" {
		return nil
	}
	for _, iss := range strings.Split(s, ",") {
		iss = strings.TrimSpace(iss)
		if err := oidcauth.CheckIssuer(iss); err != nil {
			return fmt.Errorf("OIDC_ISSUERS: %w", err)
		}
		c.OIDCIssuers = append(c.OIDCIssuers, iss)
	}
	return nil
}

func parsePublicURL(c *Config, s string) error {
	if c.PublicURL = strings.TrimSpace(s); c.PublicURL != "" {
		if _, err := auth.NewAudience(c.PublicURL); err != nil {
			return cmdutil.Usagef("%v", err)
		}
	}
	return nil
}

func parseJobRecheck(c *Config, s string) error {
	d, err := parseSeconds("JOB_RECHECK", s, true)
	if err != nil || d > jobs.DefaultValidFor {
		return cmdutil.Usagef("JOB_RECHECK %q must be a duration from 0 to %s", s, jobs.DefaultValidFor)
	}
	c.JobRecheck = d
	return nil
}

func parseDefinitionFetches(c *Config, s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 1000 {
		return fmt.Errorf("JOB_DEFINITION_FETCHES %q: want a whole number from 1 to 1000", s)
	}
	c.JobDefinitions.Fetches = n
	return nil
}

func parseProxies(c *Config, s string) error {
	c.TrustedProxies = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return cmdutil.Usagef("TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", p)
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	return nil
}

func parseBodyLimit(c *Config, s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1024 {
		return cmdutil.Usagef("BODY_LIMIT %q must be a number of bytes, at least 1024", s)
	}
	c.BodyLimit = n
	return nil
}

func parseWaitReplicas(c *Config, s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 100 {
		return cmdutil.Usagef("REDIS_WAIT_REPLICAS %q must be a number of replicas, 0 to 100", s)
	}
	c.Store.RedisWaitReplicas = n
	return nil
}

func boolField(env string, field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return cmdutil.Usagef("%s %q must be true or false", env, s)
		}
		*field(c) = b
		return nil
	}
}

// hostPortField sets a host:port setting, or "" for none.
func hostPortField(name string, field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, s string) error {
		if s != "" {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return cmdutil.Usagef("%s %q is not host:port", name, s)
			}
		}
		*field(c) = s
		return nil
	}
}

func durationField(env string, zeroOK bool, field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, s string) error {
		d, err := parseSeconds(env, s, zeroOK)
		*field(c) = d
		return err
	}
}

func limitField(env string, field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return cmdutil.Usagef("%s %q must be a number of requests, 0 for no limit", env, s)
		}
		*field(c) = n
		return nil
	}
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
