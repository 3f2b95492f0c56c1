package deadline

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const tick = 20 * time.Millisecond

// pair is a connection accepted through a Listener and its client end.
func pair(t *testing.T) (*Listener, net.Conn, net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, tick)
	t.Cleanup(func() { _ = l.Close() })
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	// Should a deadline never fire, the test fails rather than hangs.
	guard := time.AfterFunc(10*time.Second, func() { _ = server.(*conn).Conn.Close() })
	t.Cleanup(func() { guard.Stop() })
	return l, server, client
}

// timedOut fails unless err is the timeout a deadline gives.
func timedOut(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a deadline's timeout", err)
	}
}

// A read deadline fires, not before it and within a few ticks after.
func TestReadDeadlineFires(t *testing.T) {
	_, server, _ := pair(t)
	const wait = 150 * time.Millisecond
	start := time.Now()
	if err := server.SetReadDeadline(start.Add(wait)); err != nil {
		t.Fatal(err)
	}
	_, err := server.Read(make([]byte, 1))
	took := time.Since(start)
	timedOut(t, err)
	if took < wait || took > wait+2*time.Second {
		t.Fatalf("read timed out after %v, want %v to %v", took, wait, wait+2*time.Second)
	}
}

// A write deadline interrupts a write that a client which never reads has
// blocked.
func TestWriteDeadlineFires(t *testing.T) {
	_, server, _ := pair(t)
	const wait = 150 * time.Millisecond
	start := time.Now()
	if err := server.SetWriteDeadline(start.Add(wait)); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		_, err = server.Write(chunk)
	}
	timedOut(t, err)
	if took := time.Since(start); took < wait {
		t.Fatalf("write timed out after %v, before its deadline of %v", took, wait)
	}
}

// A deadline in the past interrupts a blocked read at once (net/http's
// abortPendingRead), and clearing it lets the next read through.
func TestPastDeadlineInterruptsAndZeroClears(t *testing.T) {
	_, server, client := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the read block
	if err := server.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		timedOut(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a past deadline did not interrupt the read")
	}
	if err := server.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := server.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read after clearing: %q, %v", b, err)
	}
}

// A deadline replaced before it passes never fires: not a cleared one, not
// one moved later, and not one the ticker fired and a new one replaced.
func TestReplacedDeadlineDoesNotFire(t *testing.T) {
	_, server, client := pair(t)
	b := make([]byte, 1)
	for _, next := range []time.Time{{}, time.Now().Add(time.Hour)} {
		if err := server.SetReadDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := server.SetReadDeadline(next); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(200*time.Millisecond, func() { _, _ = client.Write([]byte("y")) })
		if _, err := server.Read(b); err != nil {
			t.Fatalf("replaced by %v: %v", next, err)
		}
	}
	// Fired by the ticker, then replaced: reads work again.
	if err := server.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := server.Read(b)
	timedOut(t, err)
	if err := server.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { _, _ = client.Write([]byte("z")) })
	if _, err := server.Read(b); err != nil || b[0] != 'z' {
		t.Fatalf("read after a fired deadline was replaced: %q, %v", b, err)
	}
}

// The ticker stops once the listener and its last connection are closed.
func TestTickerStops(t *testing.T) {
	l, server, _ := pair(t)
	if l.Conns() != 1 {
		t.Fatalf("%d connections, want 1", l.Conns())
	}
	_ = l.Close()
	if !l.expire(time.Now()) {
		t.Fatal("the ticker stopped with a connection open")
	}
	_ = server.Close()
	if l.Conns() != 0 || l.expire(time.Now()) {
		t.Fatalf("the ticker runs on with %d connections after Close", l.Conns())
	}
}

// Through net/http: keep-alive requests are answered, and a client that
// sends half a request header is cut off after ReadHeaderTimeout.
func TestHTTPServerTimeouts(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, tick)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) }),
		ReadHeaderTimeout: 200 * time.Millisecond,
		ReadTimeout:       time.Second,
		WriteTimeout:      time.Second,
		IdleTimeout:       time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 50 {
		path := "/r" + strings.Repeat("x", i)
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != path {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
	}

	slow, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(slow) // the server answers 408 or just closes
	took := time.Since(start)
	if err != nil {
		t.Fatalf("half a header: %v after %v (the server never closed)", err, took)
	}
	if took < 200*time.Millisecond {
		t.Fatalf("half a header cut off after %v, before ReadHeaderTimeout", took)
	}
	if len(rest) > 0 && !strings.Contains(string(rest), "408") {
		t.Fatalf("half a header answered %q", rest)
	}
}
