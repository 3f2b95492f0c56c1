// Command listrss measures a server's memory under large GET /secrets
// listings: it fills one wallet with -n values of -size bytes, then runs
// -c listings at once, and prints the server's peak RSS (VmHWM of -pid)
// before and after. Run it against a fresh `nosana-secrets serve`.
package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nosana-ci/nosana-secrets/bench/internal/benchlogin"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:4124", "server URL")
	pid := flag.Int("pid", 0, "server process id (for its RSS)")
	n := flag.Int("n", 10000, "secrets to store")
	size := flag.Int("size", 4096, "bytes per value")
	conc := flag.Int("c", 4, "concurrent listings")
	flag.Parse()

	_, key, _ := ed25519.GenerateKey(nil)
	login := benchlogin.Body(key)
	var tok struct{ Token string }
	if err := json.Unmarshal(do("POST", *endpoint+"/login", "", login), &tok); err != nil {
		log.Fatal(err)
	}
	value := `"` + strings.Repeat("x", *size-2) + `"`
	per := (900 << 10) / (*size + 16)
	for i := 0; i < *n; i += per {
		var b bytes.Buffer
		b.WriteString(`{"secrets":{`)
		for j := i; j < min(i+per, *n); j++ {
			if j > i {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%06d":%s`, j, value)
		}
		b.WriteString(`}}`)
		do("POST", *endpoint+"/secrets", tok.Token, b.Bytes())
	}
	fmt.Printf("stored %d x %d B; server RSS %s, peak %s\n", *n, *size, status(*pid, "VmRSS"), status(*pid, "VmHWM"))
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := do("GET", *endpoint+"/secrets", tok.Token, nil)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil || len(m) != *n {
				log.Fatalf("listing: %d secrets, %v", len(m), err)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d concurrent listings of %d MB in %s; server RSS %s, peak %s\n", *conc, *n**size>>20,
		time.Since(start).Round(time.Millisecond), status(*pid, "VmRSS"), status(*pid, "VmHWM"))
}

func do(method, url, tok string, body []byte) []byte {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		log.Fatalf("%s %s: %d %v %.200s", method, url, res.StatusCode, err, b)
	}
	return b
}

func status(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, field+":")), " ")
		}
	}
	return "?"
}
