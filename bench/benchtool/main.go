// Command benchtool prepares bench/run.sh: it seeds a namespace with secrets
// through the API and prints a token or a signed legacy login body.
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
	"time"

	"github.com/mr-tron/base58"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:4124", "server URL")
	seed := flag.Int("seed", 0, "store this many secrets (key-0 … key-N-1) and print a token")
	loginBody := flag.Bool("login-body", false, "print a signed legacy login body for a fresh keypair")
	flag.Parse()
	_, key, _ := ed25519.GenerateKey(nil)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	body, _ := json.Marshal(map[string]string{
		"address":   base58.Encode(key.Public().(ed25519.PublicKey)),
		"signature": base58.Encode(ed25519.Sign(key, []byte("nosana_secret_"+ts))),
		"timestamp": ts,
	})
	if *loginBody {
		fmt.Println(string(body))
		return
	}
	var tok struct{ Token string }
	must(post(*url+"/login", "", body, &tok))
	secrets := map[string]string{}
	for i := 0; i < *seed; i++ {
		secrets["key-"+strconv.Itoa(i)] = fmt.Sprintf("value %d: a typical secret of some forty bytes", i)
	}
	b, _ := json.Marshal(map[string]any{"secrets": secrets})
	must(post(*url+"/secrets", tok.Token, b, nil))
	fmt.Println(tok.Token)
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
