// Command benchtool prepares bench/run.sh: it seeds a namespace with secrets
// through the API and prints a token or a signed legacy login body. For
// bench/instructions.sh it also sends an exact number of GETs.
package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nosana-ci/nosana-secrets/bench/internal/benchlogin"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:4124", "server URL")
	seed := flag.Int("seed", 0, "store this many secrets (key-000 … key-999 for 1,000) of 100 bytes each (as JSON) and print a token")
	loginBody := flag.Bool("login-body", false, "print a signed legacy login body for a fresh keypair")
	get := flag.String("get", "", "send -n GETs of this path with -token over -c connections, and exit")
	put := flag.String("put", "", "send -n writes (POST /secrets) of this key, each a new value, with -token over -c connections, and exit")
	n := flag.Int("n", 1000, "requests for -get or -put")
	conns := flag.Int("c", 4, "connections for -get")
	token := flag.String("token", "", "token for -get")
	every := flag.Duration("every", 0, "with -get: one request every this long, on one connection (a steady reader)")
	flag.Parse()
	if *get != "" && *every > 0 {
		must(steady(*url+*get, *token, *n, *every))
		return
	}
	if *get != "" {
		must(gets(*url+*get, *token, *n, *conns))
		return
	}
	if *put != "" {
		must(puts(*url+"/secrets", *put, *token, *n, *conns))
		return
	}
	_, key, _ := ed25519.GenerateKey(nil)
	body := benchlogin.Body(key)
	if *loginBody {
		fmt.Println(string(body))
		return
	}
	var tok struct{ Token string }
	must(post(*url+"/login", "", body, &tok))
	secrets := map[string]string{}
	width := len(strconv.Itoa(max(*seed-1, 0)))
	for i := 0; i < *seed; i++ {
		v := fmt.Sprintf("value %d: a typical secret", i)
		secrets[fmt.Sprintf("key-%0*d", width, i)] = v + strings.Repeat(".", 98-len(v)) // 100 bytes as a JSON string
	}
	b, _ := json.Marshal(map[string]any{"secrets": secrets})
	must(post(*url+"/secrets", tok.Token, b, nil))
	fmt.Println(tok.Token)
}

// gets sends n GETs of url over conns keep-alive connections; any answer
// but 200 is an error.
func gets(url, token string, n, conns int) error {
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	return fan(n, conns, func(int64) error {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := cl.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: %d", url, res.StatusCode)
		}
		return nil
	})
}

// puts sends n writes of key to url over conns workers, each a new
// 100-byte value, so that with history on every one adds a version.
func puts(url, key, token string, n, conns int) error {
	return fan(n, conns, func(i int64) error {
		v := fmt.Sprintf("value %d: a typical secret", i)
		b, _ := json.Marshal(map[string]any{"secrets": map[string]string{key: v + strings.Repeat(".", 98-len(v))}})
		return post(url, token, b, nil)
	})
}

// fan calls do(1) … do(n) from conns workers and returns the first error;
// a worker stops at its first.
func fan(n, conns int, do func(i int64) error) error {
	var next atomic.Int64
	errs := make(chan error, conns)
	for range conns {
		go func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// steady sends n GETs, one every period, as a job polling a secret does.
func steady(url, token string, n int, period time.Duration) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for i := range n {
		if i > 0 {
			<-t.C
		}
		if err := gets(url, token, 1, 1); err != nil {
			return err
		}
	}
	return nil
}

func post(url, token string, body []byte, out any) error {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: %d %s", url, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}
