package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Deployment kinds, as Config.Kind names them.
const (
	Single   = "single"   // redis://, rediss://
	Cluster  = "cluster"  // redis+cluster://, rediss+cluster://
	Sentinel = "sentinel" // redis+sentinel://, rediss+sentinel://
)

// Config is a parsed Redis URI: the go-redis options of its kind (exactly
// one of Single, Cluster, Failover is set) and the key prefix.
type Config struct {
	Kind     string
	Single   *redis.Options
	Cluster  *redis.ClusterOptions
	Failover *redis.FailoverOptions
	Prefix   string
}

// Options tune Open beyond the URI.
type Options struct {
	// WaitReplicas > 0 follows every write with WAIT WaitReplicas: a write
	// that fewer replicas acknowledge within WaitTimeout fails with an error
	// wrapping ErrUnavailable (it may still have been applied on the primary).
	WaitReplicas int
	// WaitTimeout bounds each WAIT; 0 means DefaultWaitTimeout. A request's
	// earlier deadline wins.
	WaitTimeout time.Duration
}

// DefaultWaitTimeout bounds a WAIT by default.
const DefaultWaitTimeout = time.Second

// Parse checks a Redis URI of any kind and returns its options. Its errors
// never contain the password.
//
//	redis://[user:pass@]host:6379[/db][?options]
//	redis+cluster://[user:pass@]host1:port1,host2:port2[/][?options]
//	redis+sentinel://[user:pass@]host1:port1,host2:port2/MASTER_NAME[/db][?options]
//
// and the same with rediss (TLS). Options are go-redis's (dial_timeout,
// read_timeout, pool_size, …, see redis.ParseClusterURL and
// redis.ParseFailoverURL) plus key_prefix. A cluster lists some of its
// nodes (go-redis finds the others); a sentinel URI lists the sentinels,
// and its user and password are those of the primary and replicas, while
// sentinel_username and sentinel_password authenticate to the sentinels.
func Parse(uri string) (*Config, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return nil, errors.New("not a redis URI")
	}
	base, kind, _ := strings.Cut(strings.ToLower(scheme), "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("scheme %q is not redis, rediss, redis+cluster or redis+sentinel", scheme)
	}
	switch kind {
	case "":
		opts, prefix, err := ParseURI(uri)
		if err != nil {
			return nil, err
		}
		return &Config{Kind: Single, Single: opts, Prefix: prefix}, nil
	case Cluster, Sentinel:
	default:
		return nil, fmt.Errorf("scheme %q: want %s, %s+cluster or %s+sentinel", scheme, base, base, base)
	}

	// The host list is not one URI host, so the authority is split by hand.
	var userinfo string
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	if strings.Contains(tail, "#") {
		return nil, errors.New("redis URI has a fragment (#): percent-encode # in a password as %23")
	}
	path, query, _ := strings.Cut(tail, "?")
	defPort := "6379"
	if kind == Sentinel {
		defPort = "26379"
	}
	var addrs []string
	for _, h := range strings.Split(authority, ",") {
		if h == "" {
			return nil, fmt.Errorf("redis+%s URI has an empty host: want host1:port1,host2:port2", kind)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		}
		if host == "" || port == "" || strings.ContainsAny(host, "[]:") && net.ParseIP(host) == nil {
			return nil, fmt.Errorf("redis+%s URI: bad host %q: want host:port", kind, h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}

	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("redis URI: malformed query")
	}
	prefix := DefaultPrefix
	if q.Has(PrefixParam) {
		prefix = q.Get(PrefixParam)
		q.Del(PrefixParam)
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, errors.New("redis key_prefix must not contain { or } (they pick the cluster slot)")
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	var sentUser, sentPass string
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	switch kind {
	case Cluster:
		if len(segs) > 0 {
			return nil, errors.New("redis+cluster URI takes no path: a cluster has only database 0")
		}
	case Sentinel:
		if len(segs) == 0 || len(segs) > 2 {
			return nil, errors.New("redis+sentinel URI needs the master name: redis+sentinel://host1:26379,host2:26379/MASTER_NAME[/db]")
		}
		master, err := url.PathUnescape(segs[0])
		if err != nil || master == "" {
			return nil, errors.New("redis+sentinel URI: bad master name")
		}
		q.Set("master_name", master)
		if len(segs) == 2 {
			q.Set("db", segs[1])
		}
		for _, k := range []string{"db", "master_name"} {
			if len(q[k]) > 1 {
				return nil, fmt.Errorf("redis+sentinel URI: %s given twice", k)
			}
		}
		sentUser, sentPass = q.Get("sentinel_username"), q.Get("sentinel_password")
		q.Del("sentinel_username")
		q.Del("sentinel_password")
	}
	// go-redis parses the rest: redis://userinfo@first?addr=…&options.
	goURI := base + "://" + userinfo + addrs[0] + "/?" + q.Encode()
	cfg := &Config{Kind: kind, Prefix: prefix}
	switch kind {
	case Cluster:
		cfg.Cluster, err = redis.ParseClusterURL(goURI)
	case Sentinel:
		cfg.Failover, err = redis.ParseFailoverURL(goURI)
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")
		}
		// go-redis names the offending option, not the password.
		return nil, fmt.Errorf("redis URI: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	if f := cfg.Failover; f != nil {
		// go-redis takes the URI's user for the sentinels; ours is the data
		// nodes', as for the other kinds.
		f.Username, f.Password = f.SentinelUsername, f.SentinelPassword
		f.SentinelUsername, f.SentinelPassword = sentUser, sentPass
	}
	return cfg, nil
}

// ParseURI checks a redis:// or rediss:// URI (user, password, host, port,
// database number, go-redis options such as dial_timeout, and our
// key_prefix) and returns the client options and key prefix. Its errors
// never contain the password. Parse takes the cluster and sentinel kinds too.
func ParseURI(uri string) (*redis.Options, string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")
	}
	if s := strings.ToLower(u.Scheme); s != "redis" && s != "rediss" {
		return nil, "", fmt.Errorf("scheme %q is not redis or rediss", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, "", errors.New("redis URI has no host: want redis://[user:pass@]host:6379[/db]")
	}
	q := u.Query()
	prefix := DefaultPrefix
	if q.Has(PrefixParam) {
		prefix = q.Get(PrefixParam)
		q.Del(PrefixParam)
		u.RawQuery = q.Encode()
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, "", errors.New("redis key_prefix must not contain { or } (they pick the cluster slot)")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		// go-redis names the offending option or path, not the password.
		return nil, "", fmt.Errorf("redis URI: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	return opts, prefix, nil
}

// NewClient builds the go-redis client of cfg: a plain client, a cluster
// client or a sentinel-backed failover client, with the store's defaults
// (10 s read and write timeouts unless the URI sets them, context deadlines
// honoured, no identity or maintenance-notification handshakes: they only
// produce log lines on servers that lack them).
func NewClient(cfg *Config) redis.UniversalClient {
	// A Put of 10,000 items is one script.
	timeout := func(d *time.Duration) {
		if *d == 0 {
			*d = 10 * time.Second
		}
	}
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch {
	case cfg.Cluster != nil:
		o := *cfg.Cluster
		timeout(&o.ReadTimeout)
		timeout(&o.WriteTimeout)
		// Without this, go-redis ignores context deadlines and waits out
		// ReadTimeout on a hung server; storage.Bounded relies on them.
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		o.MaintNotificationsConfig = off
		return redis.NewClusterClient(&o)
	case cfg.Failover != nil:
		o := *cfg.Failover
		timeout(&o.ReadTimeout)
		timeout(&o.WriteTimeout)
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		return redis.NewFailoverClient(&o)
	default:
		o := *cfg.Single
		timeout(&o.ReadTimeout)
		timeout(&o.WriteTimeout)
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		o.MaintNotificationsConfig = off
		return redis.NewClient(&o)
	}
}

// Open connects to the URI (see Parse), pings the server (every primary,
// on a cluster) and upgrades an older key layout (schema.go).
func Open(ctx context.Context, uri string) (*Store, error) {
	return OpenWith(ctx, uri, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, uri string, o Options) (*Store, error) {
	cfg, err := Parse(uri)
	if err != nil {
		return nil, err
	}
	return openConfig(ctx, cfg, o)
}

// Driver opens the Redis URIs of Parse. Its store wraps the errors that
// say Redis is out of reach in storage.ErrUnavailable itself.
var Driver = storage.Driver{
	Schemes: []string{"redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel"},
	Parse:   storage.ParseWith(Parse),
}

// Engine implements storage.Config.
func (c *Config) Engine() string { return "redis" }

// Open implements storage.Config, with o.RedisWaitReplicas.
func (c *Config) Open(ctx context.Context, o storage.OpenOptions) (storage.Backend, error) {
	return storage.Opened(openConfig(ctx, c, Options{WaitReplicas: o.RedisWaitReplicas}))
}

func openConfig(ctx context.Context, cfg *Config, o Options) (*Store, error) {
	if o.WaitReplicas < 0 {
		return nil, errors.New("redis: WaitReplicas must not be negative")
	}
	c := NewClient(cfg)
	c.AddHook(unavailableHook{})
	s := New(c, cfg.Prefix)
	s.wait, s.waitTimeout = o.WaitReplicas, o.WaitTimeout
	if s.waitTimeout <= 0 {
		s.waitTimeout = DefaultWaitTimeout
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
