// Command migrate measures `nosana-secrets migrate` on a generated original
// database: N keyv records (default 100,000) over many wallets, sqlite →
// sqlite, and PostgreSQL → PostgreSQL when -postgres (or
// NOSANA_TEST_POSTGRES) names a server. It prints secrets/s per pair and
// fails when the import is incomplete; it is not part of go test.
//
//	go run ./bench/migrate [-n 100000] [-bin path/to/nosana-secrets]
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/mr-tron/base58"
	_ "modernc.org/sqlite"
)

const masterKey = "bm9zYW5hLXNlY3JldHMtdGVzdC1tYXN0ZXIta2V5ISE="

func main() {
	n := flag.Int("n", 100000, "secrets to import")
	owners := flag.Int("owners", 1000, "wallets they belong to")
	bin := flag.String("bin", "", "nosana-secrets binary (default: go build .)")
	pg := flag.String("postgres", os.Getenv("NOSANA_TEST_POSTGRES"), "PostgreSQL server URI whose database names the bench's: <db>_bench_src and _dst")
	flag.Parse()
	if err := run(*n, *owners, *bin, *pg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/migrate:", err)
		os.Exit(1)
	}
}

func run(n, owners int, bin, pg string) error {
	work, err := os.MkdirTemp("", "bench-migrate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin == "" {
		bin = filepath.Join(work, "nosana-secrets")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	recs := records(n, owners)

	src := filepath.Join(work, "orig.sqlite")
	if err := fill("sqlite", src, `CREATE TABLE keyv(key VARCHAR(255) PRIMARY KEY, value TEXT )`, "?", recs); err != nil {
		return err
	}
	if err := measure(bin, "sqlite → sqlite", "sqlite://"+src, "sqlite://"+filepath.Join(work, "new.sqlite"), n); err != nil {
		return err
	}
	if pg == "" {
		fmt.Println("postgres → postgres: skipped (no -postgres or NOSANA_TEST_POSTGRES)")
		return nil
	}
	srcURI, err := freshDB(pg, "bench_src")
	if err != nil {
		return err
	}
	dstURI, err := freshDB(pg, "bench_dst")
	if err != nil {
		return err
	}
	if err := fill("pgx", srcURI, `CREATE TABLE keyv(key VARCHAR(255) PRIMARY KEY, value TEXT)`, "$", recs); err != nil {
		return err
	}
	return measure(bin, "postgres → postgres", srcURI, dstURI, n)
}

type record struct{ key, value string }

// generator makes n secrets spread evenly over owners wallets, values of
// about 100 bytes in the original's envelope, a chunk at a time: this
// process stays small, so the child's peak RSS is its own (a child's
// ru_maxrss starts from its parent's before exec).
type generator struct {
	n     int
	addrs []string
}

func records(n, owners int) generator {
	g := generator{n: n, addrs: make([]string, owners)}
	for i := range g.addrs {
		pub, _, _ := ed25519.GenerateKey(nil)
		g.addrs[i] = base58.Encode(pub)
	}
	return g
}

func (g generator) chunk(start, end int) []record {
	out := make([]record, 0, end-start)
	b := make([]byte, 40)
	for i := start; i < end; i++ {
		rand.Read(b)
		out = append(out, record{
			key:   fmt.Sprintf("%s:SECRET_%06d", g.addrs[i%len(g.addrs)], i),
			value: `{"value":"` + hex.EncodeToString(b) + `","expires":null}`,
		})
	}
	return out
}

// fill creates the keyv table in dsn and inserts recs in one transaction.
func fill(driver, dsn, create, ph string, recs generator) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(create); err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	const per = 500
	for start := 0; start < recs.n; start += per {
		part := recs.chunk(start, min(start+per, recs.n))
		var q strings.Builder
		q.WriteString("INSERT INTO keyv(key, value) VALUES ")
		args := make([]any, 0, 2*len(part))
		for i, r := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			if ph == "$" {
				fmt.Fprintf(&q, "($%d,$%d)", 2*i+1, 2*i+2)
			} else {
				q.WriteString("(?,?)")
			}
			args = append(args, r.key, r.value)
		}
		if _, err := tx.Exec(q.String(), args...); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// freshDB drops and creates <db>_suffix on the server of uri.
func freshDB(uri, suffix string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(u.Path, "/") + "_" + suffix
	db, err := sql.Open("pgx", uri)
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func measure(bin, label, from, to string, n int) error {
	cmd := exec.Command(bin, "migrate", "--create", "--from", from, "-o", "json")
	cmd.Env = append(os.Environ(), "STORAGE_CONNECTION="+to, "MASTER_KEY="+masterKey, "MASTER_KEY_FILE=", "LOG_LEVEL=warn")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", label, err, errb.String())
	}
	var s struct {
		Imported int `json:"imported"`
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Imported != n {
		return fmt.Errorf("%s: imported %d of %d (%v)\n%s", label, s.Imported, n, err, out.String())
	}
	rss := int64(0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss / 1024 // KiB on Linux
	}
	fmt.Printf("%-20s %d secrets in %6.2fs: %8.0f secrets/s, peak RSS %d MiB\n", label, n, d.Seconds(), float64(n)/d.Seconds(), rss)
	return nil
}
