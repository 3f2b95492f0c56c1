package e2e_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// The original server's databases (see their FORMAT.md) live beside the
// repository: ../shared/testdata/original from its root.
func fixtureDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata", "original")
	if _, err := os.Stat(filepath.Join(dir, "expected.json")); err != nil {
		if ci.On() {
			t.Fatalf("the original server's fixtures are missing (%v): CI needs ../shared/testdata/original beside the repository", err)
		}
		t.Skipf("no fixtures at %s", dir)
	}
	return dir
}

// fixture is expected.json: what each wallet holds, and per backend what
// its database holds differently.
type fixture struct {
	dir        string
	Wallets    map[string]string                     `json:"wallets"` // A, B, C → address
	Secrets    map[string]map[string]json.RawMessage `json:"secrets"`
	Deviations map[string]map[string]struct {
		Absent []string                   `json:"absent"`
		Values map[string]json.RawMessage `json:"values"`
	} `json:"stored_deviations"`
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	dir := fixtureDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir}
	if err := json.Unmarshal(b, f); err != nil {
		t.Fatal(err)
	}
	return f
}

// wallet reads keypairs/<name>.json, a solana-keygen array of 64 bytes.
func (f *fixture) wallet(t *testing.T, name string) authtest.Wallet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "keypairs", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var key []byte
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil || len(ints) != ed25519.PrivateKeySize {
		t.Fatalf("keypair %s: %v", name, err)
	}
	for _, i := range ints {
		key = append(key, byte(i))
	}
	w := authtest.WalletOf(ed25519.PrivateKey(key))
	if w.Addr != f.Wallets[name] {
		t.Fatalf("keypair %s is %s, expected.json says %s", name, w.Addr, f.Wallets[name])
	}
	return w
}

// want is what the owner should hold after importing backend's database:
// expected.json's secrets with the backend's deviations applied, minus
// the names this server cannot store (reported as refused instead).
func (f *fixture) want(backend, addr string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range f.Secrets[addr] {
		out[k] = v
	}
	d := f.Deviations[backend][addr]
	for _, k := range d.Absent {
		delete(out, k)
	}
	for k, v := range d.Values {
		out[k] = v
	}
	delete(out, "") // empty names: refused (see refusals)
	return out
}

// sameJSON compares two JSON texts as values, numbers by their text.
func sameJSON(a, b []byte) bool {
	dec := func(b []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	va, ea := dec(a)
	vb, eb := dec(b)
	return ea == nil && eb == nil && reflect.DeepEqual(va, vb)
}

// summary is migrate -o json.
type summary struct {
	Read     int64 `json:"read"`
	Owners   int   `json:"owners"`
	Imported int64 `json:"imported"`
	Existing int64 `json:"skipped_existing"`
	Expired  int64 `json:"skipped_expired"`
	Refused  int64 `json:"refused"`
	Refusals []struct {
		Owner, Name, Reason string
	} `json:"refusals"`
}

// runMigrate runs the real binary's migrate from src into the store of
// env and returns its summary, exit code and stderr.
func runMigrate(t *testing.T, env map[string]string, src string, args ...string) (summary, int, string) {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), append([]string{"migrate", "--create", "--from", src, "-o", "json"}, args...)...)
	cmd.Env = testserver.Env(t, env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	var s summary
	if jerr := json.Unmarshal(out.Bytes(), &s); jerr != nil {
		t.Fatalf("migrate (exit %d) printed no summary: %v\nstdout: %s\nstderr: %s", code, jerr, out.String(), errb.String())
	}
	return s, code, errb.String()
}

// --- loading each fixture into its real server

// scratchName is a database name of ours derived from the test database
// of backend, so parallel runs of other helpers never meet it.
func scratchName(t *testing.T, backend, suffix string) (uri, name string) {
	t.Helper()
	base := storagetest.URI(t, backend)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name = strings.TrimPrefix(u.Path, "/") + "_" + suffix
	u.Path = "/" + name
	return u.String(), name
}

func runTool(t *testing.T, stdin []byte, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// loadSQLite copies orig.sqlite (a read-only file in a read-only
// directory) where it can be opened.
func loadSQLite(t *testing.T, f *fixture) string {
	b, err := os.ReadFile(filepath.Join(f.dir, "sqlite", "orig.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "orig.sqlite")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + p
}

// loadPostgres restores pg_dump's output with psql into a fresh database,
// without pg_dump 15.20's \restrict and \unrestrict lines (older psql
// rejects them).
func loadPostgres(t *testing.T, f *fixture, suffix string) string {
	uri, name := scratchName(t, "postgres", suffix)
	admin := storagetest.URI(t, "postgres")
	runTool(t, nil, "psql", "-q", "-v", "ON_ERROR_STOP=1", admin,
		"-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)", "-c", "CREATE DATABASE "+name)
	dump, err := os.ReadFile(filepath.Join(f.dir, "postgres", "dump.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(dump), "\n") {
		if !strings.HasPrefix(l, `\restrict `) && !strings.HasPrefix(l, `\unrestrict `) {
			keep = append(keep, l)
		}
	}
	runTool(t, []byte(strings.Join(keep, "\n")), "psql", "-q", "-v", "ON_ERROR_STOP=1", uri)
	return uri
}

// mysqlArgs are the mariadb client's connection flags for a mysql:// URI.
func mysqlArgs(t *testing.T, uri string) []string {
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-h", u.Hostname(), "-P", cmp.Or(u.Port(), "3306"), "-u", u.User.Username()}
	if p, ok := u.User.Password(); ok {
		args = append(args, "-p"+p)
	}
	return args
}

func mysqlClient() string {
	if _, err := exec.LookPath("mariadb"); err == nil {
		return "mariadb"
	}
	return "mysql"
}

// loadMySQL restores mysqldump's output with the mariadb client, without
// line 1 (MariaDB's sandbox marker, which other clients reject).
func loadMySQL(t *testing.T, f *fixture, suffix string) string {
	uri, name := scratchName(t, "mysql", suffix)
	args := mysqlArgs(t, uri)
	runTool(t, nil, mysqlClient(), append(args, "-e", "DROP DATABASE IF EXISTS "+name+"; CREATE DATABASE "+name)...)
	dump, err := os.ReadFile(filepath.Join(f.dir, "mysql", "dump.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(dump), "/*M!999999") {
		_, rest, _ := strings.Cut(string(dump), "\n")
		dump = []byte(rest)
	}
	runTool(t, dump, mysqlClient(), append(args, name)...)
	return uri
}

// redisScratchVar names a whole Redis database that the tests may empty:
// the original's keyv layout is read with a SCAN of every key, so its
// fixture cannot share a database with anything. It is set explicitly
// (.ci/run sets it), never derived from NOSANA_TEST_REDIS: a test touches
// only the stores it is given.
const redisScratchVar = "NOSANA_TEST_REDIS_SCRATCH"

// redisScratch is the database redisScratchVar names, which must differ
// from NOSANA_TEST_REDIS's. Unset, the test skips (fails under CI).
func redisScratch(t *testing.T) string {
	t.Helper()
	uri := os.Getenv(redisScratchVar)
	if uri == "" {
		if ci.On() {
			t.Fatalf("%s is not set, and CI is: set it to a Redis database the tests may empty (see .ci/run)", redisScratchVar)
		}
		t.Skipf("%s is not set: skipping what needs a Redis database of its own to empty", redisScratchVar)
	}
	scratch, err := redis.ParseURL(uri)
	if err != nil {
		t.Fatalf("%s: %v", redisScratchVar, err)
	}
	if given := os.Getenv(storagetest.EnvVar("redis")); given != "" {
		if g, err := redis.ParseURL(given); err == nil && g.Addr == scratch.Addr && g.DB == scratch.DB {
			t.Fatalf("%s names the database of %s: give the tests another one to empty", redisScratchVar, storagetest.EnvVar("redis"))
		}
	}
	return uri
}

// redisOwn is a store of the test's alone inside the given Redis database
// (NOSANA_TEST_REDIS): a key prefix no other test uses, whose keys are
// deleted when the test ends. Nothing else in the database is touched.
func redisOwn(t *testing.T, name string) string {
	t.Helper()
	base := storagetest.URI(t, "redis")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	prefix := storagetest.Unique("e2e-"+name+"-") + ":"
	q := u.Query()
	q.Set("key_prefix", prefix)
	u.RawQuery = q.Encode()
	c := redisClient(t, base)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return u.String()
}

func redisClient(t *testing.T, uri string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// loadRedis writes every key of redis/dump.jsonl into the emptied
// scratch database (redisScratch).
func loadRedis(t *testing.T, f *fixture) string {
	uri := redisScratch(t)
	ctx := context.Background()
	c := redisClient(t, uri)
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(filepath.Join(f.dir, "redis", "dump.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var rec struct {
			Key     string   `json:"key"`
			Type    string   `json:"type"`
			PTTL    int64    `json:"pttl_ms"`
			Value   string   `json:"value"`
			Members []string `json:"members"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		var err error
		switch rec.Type {
		case "string":
			err = c.Set(ctx, rec.Key, rec.Value, 0).Err()
		case "set":
			m := make([]any, len(rec.Members))
			for i, s := range rec.Members {
				m[i] = s
			}
			err = c.SAdd(ctx, rec.Key, m...).Err()
		default:
			t.Fatalf("redis dump: key type %q", rec.Type)
		}
		if err == nil && rec.PTTL > 0 {
			err = c.PExpire(ctx, rec.Key, time.Duration(rec.PTTL)*time.Millisecond).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return uri
}

// mongoDB is the database name at the MongoDB of uri, connected until t ends.
func mongoDB(t *testing.T, uri, name string) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(name)
}

// mongoStore is mongoDB of the database the storage URI uri names.
func mongoStore(t *testing.T, uri string) *mongo.Database {
	t.Helper()
	name, err := mongostore.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return mongoDB(t, uri, name)
}

// loadMongo inserts mongodb/dump.jsonl's documents (canonical extended
// JSON) and its key index into a fresh database of the test server.
func loadMongo(t *testing.T, f *fixture, suffix string) string {
	uri, name := scratchName(t, "mongodb", suffix)
	ctx := context.Background()
	db := mongoDB(t, uri, name)
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("keyv")
	b, err := os.ReadFile(filepath.Join(f.dir, "mongodb", "dump.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var rec struct {
			Collection string          `json:"collection"`
			Kind       string          `json:"kind"`
			Document   json.RawMessage `json:"document"`
			Index      json.RawMessage `json:"index"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Collection != "keyv" {
			t.Fatalf("mongodb dump: collection %q", rec.Collection)
		}
		switch rec.Kind {
		case "document":
			var d bson.D
			if err := bson.UnmarshalExtJSON(rec.Document, true, &d); err != nil {
				t.Fatal(err)
			}
			docs = append(docs, d)
		case "index":
			var ix struct {
				Name   string `json:"name"`
				Unique bool   `json:"unique"`
			}
			_ = json.Unmarshal(rec.Index, &ix)
			if ix.Name == "key_1" {
				if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
					Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(ix.Unique),
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	return uri
}

// loadOriginal loads backend's fixture and returns the original's
// STORAGE_CONNECTION for it.
func loadOriginal(t *testing.T, f *fixture, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return loadSQLite(t, f)
	case "postgres":
		return loadPostgres(t, f, "orig")
	case "mysql":
		return loadMySQL(t, f, "orig")
	case "redis":
		return loadRedis(t, f)
	case "mongodb":
		return loadMongo(t, f, "orig")
	}
	panic(fmt.Sprint("no fixture loader for ", backend))
}
