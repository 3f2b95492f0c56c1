package redisstore_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
)

func TestParseCluster(t *testing.T) {
	cfg, err := redisstore.Parse("rediss+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002?dial_timeout=2s&key_prefix=x:")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Cluster
	if cfg.Kind != redisstore.Cluster || o == nil || cfg.Single != nil || cfg.Failover != nil {
		t.Fatalf("kind %q, cluster options %v", cfg.Kind, o != nil)
	}
	want := []string{"10.0.0.1:7000", "10.0.0.2:6379", "[::1]:7002"}
	if !reflect.DeepEqual(o.Addrs, want) || o.Username != "app" || o.Password != "p@ss" ||
		o.TLSConfig == nil || o.DialTimeout != 2*time.Second || cfg.Prefix != "x:" {
		t.Fatalf("got addrs %v user %q tls %v dial %v prefix %q", o.Addrs, o.Username, o.TLSConfig != nil, o.DialTimeout, cfg.Prefix)
	}
	cfg, err = redisstore.Parse("redis+cluster://h:7000/")
	if err != nil || cfg.Cluster.TLSConfig != nil || cfg.Prefix != redisstore.DefaultPrefix {
		t.Fatalf("plain cluster: %v", err)
	}
}

func TestParseSentinel(t *testing.T) {
	cfg, err := redisstore.Parse("redis+sentinel://app:s3cret@s1:26380,s2/mymaster/2?sentinel_password=sp&read_timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Failover
	if cfg.Kind != redisstore.Sentinel || o == nil {
		t.Fatalf("kind %q", cfg.Kind)
	}
	if !reflect.DeepEqual(o.SentinelAddrs, []string{"s1:26380", "s2:26379"}) || o.MasterName != "mymaster" || o.DB != 2 ||
		o.Username != "app" || o.Password != "s3cret" || o.SentinelUsername != "" || o.SentinelPassword != "sp" ||
		o.ReadTimeout != 3*time.Second || o.TLSConfig != nil {
		t.Fatalf("got %+v", *o)
	}
	cfg, err = redisstore.Parse("rediss+sentinel://s1:26379/mymaster")
	if err != nil || cfg.Failover.TLSConfig == nil || cfg.Failover.DB != 0 || cfg.Failover.Password != "" {
		t.Fatalf("TLS sentinel: %v", err)
	}
	cfg, err = redisstore.Parse("redis://h:6380/1")
	if err != nil || cfg.Kind != redisstore.Single || cfg.Single.Addr != "h:6380" || cfg.Single.DB != 1 {
		t.Fatalf("single: %v", err)
	}
}

// TestParseBad: each mistake is an error that says what is wrong, and
// none shows the password.
func TestParseBad(t *testing.T) {
	for uri, want := range map[string]string{
		"redis+cluster://u:hunter22@h1:7000,,h2:7001":                 "empty host",
		"redis+cluster://u:hunter22@h1:7000/3":                        "no path",
		"redis+cluster://u:hunter22@h1:7000?db=2":                     "unexpected option",
		"redis+cluster://u:hunter22@h1:7000?bogus=1":                  "unexpected option",
		"redis+cluster://u:hunter22@h1:7000?key_prefix={a}":           "key_prefix",
		"redis+cluster://u:hunter22@h1:x:y":                           "bad host",
		"redis+sentinel://u:hunter22@s1:26379":                        "master name",
		"redis+sentinel://u:hunter22@s1:26379/m/x":                    "database",
		"redis+sentinel://u:hunter22@s1:26379/m/0/1":                  "master name",
		"redis+sentinel://u:hunter22@s1:26379/m?dial_timeout=forever": "dial_timeout",
		"redis+sentinel://u:hunter%zz22@s1:26379/m":                   "malformed",
		"redis+cluster://u:hunter22@h1:7000#frag":                     "fragment",
		"redis+shard://u:hunter22@h1:7000":                            "redis+cluster or redis+sentinel",
	} {
		_, err := redisstore.Parse(uri)
		if err == nil {
			t.Errorf("Parse(%q) accepted", uri)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want it to say %q", uri, err, want)
		}
		if strings.Contains(err.Error(), "hunter") {
			t.Errorf("Parse(%q) error shows the password: %v", uri, err)
		}
	}
}
