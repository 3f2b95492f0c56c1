package backends_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://alice:s3cret@db.example:5432/app?sslmode=require", "postgres://alice:xxxxx@db.example:5432/app?sslmode=require"},
		{"postgresql://alice@db/app", "postgresql://alice@db/app"},
		{"postgresql://alice:s3cret@h1:5432,h2:5433/app?target_session_attrs=read-write", "postgresql://alice:xxxxx@h1:5432,h2:5433/app?target_session_attrs=read-write"},
		{"mysql://root@127.0.0.1:3306/nosana_test", "mysql://root@127.0.0.1:3306/nosana_test"},
		{"mysql://u:p%40ss%2Fw0rd@h:3306/db", "mysql://u:xxxxx@h:3306/db"},
		// Unencoded special characters: everything up to the last '@'.
		{"postgres://u:p@ss/w#rd?x@host:5432/db", "postgres://u:xxxxx@host:5432/db"},
		{"mongodb://u:a:b:c@h1:27017,h2:27017/db?replicaSet=rs0", "mongodb://u:xxxxx@h1:27017,h2:27017/db?replicaSet=rs0"},
		{"mongodb+srv://u:pw@cluster.example/db?authMechanismProperties=AWS_SESSION_TOKEN:abc", "mongodb+srv://u:xxxxx@cluster.example/db?authMechanismProperties=xxxxx"},
		{"postgres://h/db?user=u&password=hunter22&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=abc", "postgres://h/db?sslpassword=xxxxx"},
		{"redis://:hunter22@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"redis://hunter22@cache:6379/0", "redis://xxxxx@cache:6379/0"}, // go-redis reads a lone user as the password
		{"rediss://default:pw@cache:6380", "rediss://default:xxxxx@cache:6380"},
		{"redis+cluster://u:p@ss@h1:7000,h2:7001?dial_timeout=2s", "redis+cluster://u:xxxxx@h1:7000,h2:7001?dial_timeout=2s"},
		{"rediss+cluster://hunter22@h1:7000", "rediss+cluster://xxxxx@h1:7000"},
		{"redis+sentinel://:pw1@s1,s2:26380/mymaster/1?sentinel_password=pw2", "redis+sentinel://:xxxxx@s1,s2:26380/mymaster/1?sentinel_password=xxxxx"},
		{"sqlite://data/db.sqlite", "sqlite://data/db.sqlite"},
		{"sqlite:///var/lib/x@y:z.sqlite", "sqlite:///var/lib/x@y:z.sqlite"},
		{"  postgres://u:pw@h/db\n", "postgres://u:xxxxx@h/db"},
		{"user:password@tcp(localhost:3306)/db", "(not a URI)"},
		{"hunter22", "(not a URI)"},
		{"", "(not a URI)"},
		{"::://", "(not a URI)"},
	}
	for _, tt := range tests {
		if got := backends.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	good := map[string]string{
		"sqlite://db.sqlite":                backends.SQLite,
		"sqlite:///tmp/x/db.sqlite":         backends.SQLite,
		"SQLITE://db.sqlite":                backends.SQLite,
		"postgres://u:p%40ss@h:5432/db":     backends.Postgres,
		"postgresql://h/db?sslmode=disable": backends.Postgres,
		"postgresql://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=read-write": backends.Postgres,
		"postgres://h1,h2/db":                                    backends.Postgres,
		"mysql://root@127.0.0.1:3306/nosana":                     backends.MySQL,
		"mysql://u:p%2F%3F%23@h/db?tls=true":                     backends.MySQL,
		"mongodb://h:27017/db":                                   backends.MongoDB,
		"mongodb+srv://u:p@cluster.example/db?retryWrites=false": backends.MongoDB,
		"redis://127.0.0.1:6379/0":                               backends.Redis,
		"rediss://u:p@h:6380/2":                                  backends.Redis,
		"redis+cluster://u:p@h1:7000,h2:7001":                    backends.Redis,
		"rediss+cluster://h1:7000/?pool_size=5":                  backends.Redis,
		"redis+sentinel://s1:26379,s2:26379/mymaster/3":          backends.Redis,
		"REDISS+SENTINEL://:p%40ss@s1/mymaster":                  backends.Redis,
		"memory://":                                              backends.Memory,
	}
	for uri, want := range good {
		if got, err := backends.Check(uri); err != nil || got != want {
			t.Errorf("Check(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                    "not a URI",
		"db.sqlite":                           "not a URI",
		"http://example.com":                  `unsupported scheme "http": use one of sqlite, postgres, postgresql, mysql, mongodb, mongodb+srv, redis, rediss`,
		"sqlite://":                           "no file path",
		"sqlite://db.sqlite?cache=shared":     "must not contain '?'",
		"sqlite://:memory:":                   "plain file path",
		"mysql://h:3306":                      "one database",
		"mysql://u:pw@/db":                    "no host",
		"postgres://u:pa/ss@host/db":          "percent-encode",
		"postgres://u:1?b@host/db":            "percent-encode",
		"postgres://u:p%zzw@host/db":          "malformed URI",
		"redis://h/notanumber":                "invalid database number",
		"redis://h/0?bogus=1":                 "bogus",
		"redis+cluster://h1:7000/1":           "no path",
		"redis+sentinel://s1:26379":           "needs the master name",
		"redis+sentinel://u:p/w@s1/m":         "percent-encode",
		"postgres://h1:5432,:5433/db":         "empty host",
		"postgres://h1,,h2/db":                "empty host",
		"postgres://h1:5432,h2:99999/db":      "bad port",
		"postgres://h1:5432,h2:x/db":          "bad port",
		"postgres://[::1]:5432,[::2]:5433/db": "IPv6",
		"mongodb://h/bad.name":                "not a valid database name",
	}
	for uri, want := range bad {
		_, err := backends.Check(uri)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v; want an error containing %q", uri, err, want)
		}
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestOpenErrors: a store that cannot be opened is one line that names
// the scheme and host and not the password.
func TestOpenErrors(t *testing.T) {
	const pw = "Sup3r$ecret/@:?#%"
	enc := url.QueryEscape(pw)
	addr, addr2 := freePort(t), freePort(t)
	dir := t.TempDir()
	tests := []struct{ uri, want string }{
		{"postgres://u:" + enc + "@" + addr + "/db?connect_timeout=2", "postgres://u:xxxxx@" + addr},
		{"postgres://u:" + enc + "@" + addr + "," + addr2 + "/db", "postgres://u:xxxxx@" + addr + "," + addr2},
		{"mysql://u:" + enc + "@" + addr + "/db?timeout=2s", "mysql://u:xxxxx@" + addr},
		{"redis://:" + enc + "@" + addr + "/0?dial_timeout=2s", "redis://:xxxxx@" + addr},
		{"redis+cluster://u:" + enc + "@" + addr + "," + addr + "?dial_timeout=1s", "redis+cluster://u:xxxxx@" + addr + "," + addr},
		{"redis+sentinel://:" + enc + "@" + addr + "/mymaster?dial_timeout=1s&sentinel_password=" + enc, "redis+sentinel://:xxxxx@" + addr + "/mymaster?dial_timeout=1s&sentinel_password=xxxxx"},
		{"mongodb://u:" + enc + "@" + addr + "/db?serverSelectionTimeoutMS=1500&connectTimeoutMS=1000", "mongodb://u:xxxxx@" + addr},
		{"sqlite://" + filepath.Join(dir, "missing", "db.sqlite"), "does not exist"},
		{"ftp://u:" + enc + "@h/x", `unsupported scheme "ftp"`},
		{"postgres://u:" + pw + "@h/db", "percent-encode"},
	}
	for _, tt := range tests {
		s, err := stack.Open(context.Background(), tt.uri, testOptions(t))
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", backends.Redact(tt.uri))
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("Open(%s) = %q; want it to contain %q", backends.Redact(tt.uri), msg, tt.want)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("Open(%s): error has several lines: %q", backends.Redact(tt.uri), msg)
		}
		for _, secret := range []string{pw, enc, "Sup3r"} {
			if strings.Contains(msg, secret) {
				t.Errorf("Open(%s): error shows the password: %q", backends.Redact(tt.uri), msg)
			}
		}
	}
}

func TestOpenSQLiteCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.sqlite")
	s, err := stack.Open(context.Background(), "sqlite://"+path, stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := s.Put(context.Background(), "o", []storage.Item{{Name: "k", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	// A relative path is relative to the working directory.
	t.Chdir(t.TempDir())
	rel, err := stack.Open(context.Background(), "sqlite://rel.sqlite", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rel.Close()
	if _, err := os.Stat("rel.sqlite"); err != nil {
		t.Fatalf("relative database file not created: %v", err)
	}
}

// TestOpenEach opens every configured backend through Open and does one
// round trip; the conformance suite runs in each backend's own package.
func TestOpenEach(t *testing.T) {
	for _, b := range []string{"postgres", "mysql", "redis", "redis_cluster", "redis_sentinel", "mongodb"} {
		t.Run(b, func(t *testing.T) {
			s := storagetest.Open(t, b, func(ctx context.Context, uri string) (storage.Store, error) {
				return stack.Open(ctx, uri, testOptions(t))
			})
			ctx := context.Background()
			owner := storagetest.Unique("open-")
			if err := s.Put(ctx, owner, []storage.Item{{Name: "k", Value: []byte("v")}}); err != nil {
				t.Fatal(err)
			}
			if sec, err := s.Get(ctx, owner, "k"); err != nil || string(sec.Value) != "v" {
				t.Fatalf("Get = %q, %v", sec.Value, err)
			}
			if _, err := s.Get(ctx, owner, "absent"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get of an absent key: %v", err)
			}
			if err := s.Delete(ctx, owner, []string{"k"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testOptions seal with the key every test sharing a test database uses.
func testOptions(t *testing.T) stack.Options {
	keys, err := seal.ParseKeys(testserver.TestMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return stack.Options{MasterKeys: keys}
}

// TestOpenSQLiteStack: the sqlite stack seals below, answers plaintext
// above, holds the file for this process and finds its key file again.
func TestOpenSQLiteStack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.sqlite")
	s, err := stack.Open(ctx, "sqlite://"+path, stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "o", []storage.Item{{Name: "k", Value: []byte(`"plain"`)}}); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.Get(ctx, "o", "k"); err != nil || string(sec.Value) != `"plain"` {
		t.Fatalf("Get = %q, %v", sec.Value, err)
	}
	raw, err := s.Lower().Get(ctx, "o", "k")
	if err != nil || strings.Contains(string(raw.Value), "plain") {
		t.Fatalf("stored value %q, %v: want it sealed", raw.Value, err)
	}
	if _, err := stack.Open(ctx, "sqlite://"+path, stack.Options{}); err == nil || !strings.Contains(err.Error(), "another nosana-secrets process") {
		t.Fatalf("second Open of a held sqlite file: %v", err)
	}
	s.Close()
	if fi, err := os.Stat(path + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v", err)
	}
	again, err := stack.Open(ctx, "sqlite://"+path, stack.Options{})
	if err != nil {
		t.Fatalf("reopen with the key file: %v", err)
	}
	defer again.Close()
	if sec, err := again.Get(ctx, "o", "k"); err != nil || string(sec.Value) != `"plain"` {
		t.Fatalf("after reopen: %q, %v", sec.Value, err)
	}
	other, _ := seal.ParseKeys(seal.NewKey())
	if _, err := stack.Open(ctx, "sqlite://"+filepath.Join(filepath.Dir(path), "s.sqlite"), stack.Options{MasterKeys: other}); err == nil {
		t.Fatal("opened while held")
	}
}

func TestOpenNetworkNeedsKey(t *testing.T) {
	_, err := stack.Open(context.Background(), storagetest.URI(t, "postgres"), stack.Options{})
	if err == nil || !strings.Contains(err.Error(), "MASTER_KEY is required with postgres storage") {
		t.Fatalf("Open without a key: %v", err)
	}
}

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	s, err := stack.Open(ctx, "memory://", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, "o", []storage.Item{{Name: "k", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.Get(ctx, "o", "k"); err != nil || string(sec.Value) != "v" {
		t.Fatalf("Get = %q, %v", sec.Value, err)
	}
	if _, err := stack.Open(ctx, "memory://x", stack.Options{}); err == nil {
		t.Fatal("memory://x accepted")
	}
}
