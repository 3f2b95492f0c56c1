package testserver

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// The helpers the server, e2e and browser tests share: a free port, a wait
// for /readyz (the wallet that signs in is pkg/auth/authtest's).

// Eventually polls cond every poll until it holds, failing t once within
// has passed.
func Eventually(t testing.TB, within, poll time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(poll)
	}
}

// FreePort returns a loopback port nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReady polls base/readyz until it answers 200, failing t after
// timeout; gone, when not nil, stops the wait early (the process exited).
func WaitReady(t testing.TB, base string, timeout time.Duration, gone func() bool) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var res *http.Response
		res, err = client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || gone != nil && gone() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 within %s (%v)", base, timeout, err)
}
