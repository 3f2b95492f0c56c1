// Command auditrss measures what GET /v1/audit costs a server (issue 19):
// it fills one owner's audit log with -n events straight into an sqlite
// store, starts each -bin on it in turn, and runs -c clients at once, each
// following the cursors of filtered queries to the end (a key that matches
// nothing, a rare key, an action). It prints, per binary, the server's
// RSS when idle and its peak (VmHWM) under those queries, and how long the
// queries took.
//
//	go build -o /tmp/new . && go run ./bench/auditrss -bin /tmp/new -bin /tmp/old
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/bench/internal/benchlogin"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
)

type bins []string

func (b *bins) String() string     { return strings.Join(*b, ",") }
func (b *bins) Set(s string) error { *b = append(*b, s); return nil }

func main() {
	var servers bins
	flag.Var(&servers, "bin", "a nosana-secrets binary to measure (repeat for an A/B)")
	n := flag.Int("n", 100_000, "audit events in the owner's log")
	conc := flag.Int("c", 8, "clients querying at once")
	store := flag.String("store", "", "STORAGE_CONNECTION to fill and serve (default: a new sqlite file); MASTER_KEY from the environment for other stores")
	flag.Parse()
	if len(servers) == 0 {
		log.Fatal("give at least one -bin")
	}
	dir, err := os.MkdirTemp("", "auditrss")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	uri := *store
	if uri == "" {
		uri = "sqlite://" + filepath.Join(dir, "db.sqlite")
	}

	_, key, _ := ed25519.GenerateKey(nil)
	owner := base58.Encode(key.Public().(ed25519.PublicKey))
	fill(uri, owner, *n)

	fmt.Printf("%d events; %d clients, each: key that matches nothing, key k7 (1 in 500), action write (1 in 4)\n", *n, *conc)
	fmt.Printf("%-40s %12s %12s %12s %10s\n", "binary", "idle RSS", "peak RSS", "peak-idle", "seconds")
	for _, bin := range servers {
		idle, peak, took := measure(bin, uri, key, owner, *conc)
		fmt.Printf("%-40s %9.1f MiB %9.1f MiB %9.1f MiB %10.1f\n", bin, mib(idle), mib(peak), mib(peak-idle), took.Seconds())
	}
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// fill appends n events to owner's log, in batches, as a busy month would.
func fill(uri, owner string, n int) {
	ctx := context.Background()
	var keys [][]byte
	if k := os.Getenv("MASTER_KEY"); k != "" {
		var err error
		if keys, err = seal.ParseKeys(k); err != nil {
			log.Fatal(err)
		}
	}
	s, err := stack.Open(ctx, uri, stack.Options{MasterKeys: keys})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	actions := []audit.Action{audit.Read, audit.Read, audit.List, audit.Write}
	for start := 0; start < n; start += 1000 {
		batch := make([]audit.Event, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, audit.Event{Time: time.Now(), Action: actions[i%4], Keys: []string{fmt.Sprintf("k%d", i%500)},
				Actor: owner, IP: "127.0.0.1", Status: 200})
		}
		if err := s.AppendAudit(ctx, owner, batch); err != nil {
			log.Fatal(err)
		}
	}
}

func measure(bin, uri string, key ed25519.PrivateKey, owner string, conc int) (idle, peak int64, took time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Env = append(os.Environ(), "STORAGE_CONNECTION="+uri, "LOG_LEVEL=error", "AUDIT_QUOTA=0",
		"RATE_LIMIT_SECRETS_IP=0", "RATE_LIMIT_SECRETS_ADDRESS=0", "RATE_LIMIT_LOGIN_IP=0", "RATE_LIMIT_LOGIN_ADDRESS=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(base + "/readyz"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if i > 300 {
			log.Fatalf("%s does not start", bin)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := http.Post(base+"/login", "application/json", strings.NewReader(string(benchlogin.Body(key))))
	if err != nil {
		log.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	follow(base, tok.Token, "limit=100") // warm: one page of each kind
	time.Sleep(time.Second)
	idle = status(cmd.Process.Pid, "VmRSS")
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow(base, tok.Token, "limit=1&key=does-not-exist")
			follow(base, tok.Token, "limit=100&key=k7")
			follow(base, tok.Token, "limit=1000&action=write")
		}()
	}
	wg.Wait()
	return idle, status(cmd.Process.Pid, "VmHWM"), time.Since(start)
}

// follow reads every page of the query.
func follow(base, token, query string) {
	cursor := ""
	for {
		u := base + "/v1/audit?" + query
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			log.Fatalf("%s: %d %s", u, res.StatusCode, b)
		}
		var page struct {
			Next *string `json:"next_cursor"`
		}
		json.Unmarshal(b, &page)
		if page.Next == nil {
			return
		}
		cursor = *page.Next
	}
}

// status reads a field of /proc/PID/status, in kB.
func status(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
