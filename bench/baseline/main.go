// Command baseline is the yardstick of bench/run.sh: a bare net/http
// handler answering a fixed JSON body, measured under the same load as
// nosana-secrets.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:4199", "host:port")
	flag.Parse()
	body := []byte(`"a fixed value of about the size of a secret"`)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}
