package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// hostileRequest is one malformed request: method, path, headers, body.
type hostileRequest struct {
	method, path string
	header       map[string]string
	body         []byte
}

// hostileRequests returns n malformed requests of many shapes, made
// deterministically from seed, aimed at a wallet whose token is tok.
func hostileRequests(n int, seed uint64, tok string) []hostileRequest {
	rng := rand.New(rand.NewPCG(seed, seed))
	junk := func(max int) []byte {
		b := make([]byte, rng.IntN(max)+1)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	parts := strings.Split(strings.TrimPrefix(tok, "Bearer "), ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	tokens := []string{
		"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", tok + "x", "Bearer " + parts[0] + "." + parts[1] + ".",
		noneHeader + "." + parts[1] + ".", "Bearer " + strings.Repeat("A", 8000), "Bearer a.b.c",
		"Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"address":"x","exp":99999999999}`)) + "." + parts[2],
	}
	bodies := [][]byte{
		nil, []byte("{"), []byte("[]"), []byte("null"), []byte(`"str"`), []byte("1e999"), []byte(`{"secrets":`),
		[]byte(`{"secrets":[]}`), []byte(`{"secrets":"x"}`), []byte(`{"secrets":{"":1}}`), []byte(`{"secrets":{"a":}}`),
		[]byte(`{"secrets":{"k":1},"prefix":{}}`), []byte(`{"secrets":{"` + strings.Repeat("k", 600) + `":1}}`),
		[]byte("{\"secrets\":{\"\xff\xfe\":1}}"), []byte(`{"secrets":{"a\u0000b":1}}`), []byte(`{"key":{}}`),
		[]byte(`{"key":[1,2]}`), []byte(`{"key":[]}`), []byte(`{"key":null}`), []byte(`{"key":""}`),
		[]byte(`{"address":1}`), []byte(`{"address":"x","signature":"y","timestamp":"z"}`),
		[]byte(`{"address":"0OIl","signature":"0OIl","timestamp":1}`), []byte(`{"address":"` + strings.Repeat("1", 5000) + `"}`),
		[]byte(`{"address":"a","signature":"b","message":"` + strings.Repeat("x", 3000) + `"}`),
		[]byte(`{"address":"a","signature":"b","timestamp":1,"job":"` + strings.Repeat("z", 500) + `"}`),
		[]byte(strings.Repeat("[", 100000)), []byte(`{"secrets":{"deep":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`),
	}
	paths := []string{"/login", "/secrets", "/secrets/", "/secrets/%", "/secrets/%zz", "/secrets/%00", "/secrets/%FF%FE",
		"/secrets/" + strings.Repeat("k", 600), "/secrets/..%2F..%2Fetc%2Fpasswd", "/secrets?prefix=%FF", "/secrets?prefix=%00",
		"/secrets?prefix=" + strings.Repeat("p", 600), "/secrets/a/b/c", "//secrets", "/secrets/.", "/login/", "/nope"}
	methods := []string{"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"}
	out := make([]hostileRequest, 0, n)
	for len(out) < n {
		h := map[string]string{"Authorization": tokens[rng.IntN(len(tokens))]}
		if rng.IntN(2) == 0 {
			h["Authorization"] = tok // a valid token with a bad request
		}
		switch rng.IntN(4) {
		case 0:
			h["Content-Type"] = "text/plain"
		case 1:
			h["Content-Type"] = "application/json; charset=latin1"
		}
		var body []byte
		switch rng.IntN(3) {
		case 0:
			body = bodies[rng.IntN(len(bodies))]
		case 1:
			body = junk(2048)
		}
		out = append(out, hostileRequest{methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))], h, body})
	}
	return out
}

// TestHostileInput sends 1,000 malformed requests to every backend's
// server, then proves that none was answered 5xx, the server still serves,
// and every stored secret is intact.
func TestHostileInput(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			srv := testserver.Start(t, testserver.Config(b.uri(t)))
			a := api{t, srv.URL}
			w := authtest.NewWallet()
			tok := a.login(w)
			stored := map[string]any{"api-key": "sk-live-123", "ssh": "-----BEGIN KEY-----\nabc\n", "n": 42.5,
				"obj": map[string]any{"a": []any{true, nil}}, "a/b": "slash", "ключ": "unicode"}
			a.expect(a.do("POST", "/secrets", tok, map[string]any{"secrets": stored}), 200, "", "")
			want, _ := json.Marshal(stored)

			client := &http.Client{Timeout: 10 * time.Second}
			counts := map[int]int{}
			for i, hr := range hostileRequests(1000, uint64(len(b.name)), tok) {
				req, err := http.NewRequest(hr.method, srv.URL+hr.path, bytes.NewReader(hr.body))
				if err != nil {
					continue // not sendable by a Go client; the raw-socket case covers such lines
				}
				for k, v := range hr.header {
					req.Header.Set(k, v)
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d (%s %s): %v", i, hr.method, hr.path, err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				counts[res.StatusCode]++
				if res.StatusCode >= 500 {
					t.Errorf("request %d %s %s -> %d %s", i, hr.method, hr.path, res.StatusCode, body)
				}
				if bytes.Contains(body, []byte("goroutine ")) {
					t.Errorf("request %d answered with a stack trace: %s", i, body)
				}
				// Only the owner's own valid read may carry a value.
				if bytes.Contains(body, []byte("sk-live-123")) && (res.StatusCode != 200 || hr.header["Authorization"] != tok) {
					t.Errorf("request %d leaked a value: %d %s", i, res.StatusCode, body)
				}
			}
			rawSocketGarbage(t, srv.Addr)
			t.Logf("status counts: %v", counts)

			var got map[string]any
			r := a.do("GET", "/secrets", tok, nil)
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("list after the attack: %d %s", r.status, r.body)
			}
			gotJSON, _ := json.Marshal(got)
			if !bytes.Equal(gotJSON, want) {
				t.Errorf("stored secrets changed:\n got %s\nwant %s", gotJSON, want)
			}
			if err := srv.Stop(); err != nil { // flushes the log
				t.Fatal(err)
			}
			if strings.Contains(srv.Logs(), "sk-live-123") {
				t.Error("a secret value reached the log")
			}
		})
	}
}

// rawSocketGarbage writes things no HTTP client would send; the server must
// answer 4xx or close, and keep serving.
func rawSocketGarbage(t *testing.T, addr string) {
	for _, raw := range []string{
		"GARBAGE\r\n\r\n",
		"GET /secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\x00\r\n\r\n",
		"POST /secrets HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{",
		"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /secrets/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 100) + "\r\n",
	} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte(raw))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "HTTP/1.1 5") {
			t.Errorf("%.40q -> %s", raw, line)
		}
	}
	// Still alive.
	res, err := http.Get(fmt.Sprintf("http://%s/livez", addr))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("server down after raw garbage: %v", err)
	}
	res.Body.Close()
}
