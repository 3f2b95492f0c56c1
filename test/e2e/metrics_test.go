package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// TestMetricsBoundedByServer: nothing a client puts in the request line
// creates a /metrics series or a long log line. 1,000 requests with random
// long methods and paths, sent over raw sockets, leave /metrics with the
// series it had.
func TestMetricsBoundedByServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Config("sqlite://"+filepath.Join(t.TempDir(), "m.sqlite")))
	rng := rand.New(rand.NewPCG(8, 1))
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('A' + rng.IntN(26))
		}
		return string(b)
	}
	paths := func() string {
		switch rng.IntN(4) {
		case 0:
			return "/"
		case 1:
			return "/secrets/" + letters(1+rng.IntN(300))
		case 2:
			return "/" + letters(1+rng.IntN(3000))
		}
		return "/secrets"
	}
	send := func(n int) {
		t.Helper()
		c, err := net.DialTimeout("tcp", srv.Addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(c)
		for i := 0; i < n; i++ {
			method := letters(100 + rng.IntN(5000))
			if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, paths()); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("request %d: %s", i, res.Status)
			}
		}
	}
	// The first odd method, unmatched path and scrape may add their one
	// series each.
	send(20)
	metricSeries(t, srv.URL)
	before, beforeSize := metricSeries(t, srv.URL)
	send(1000)
	after, afterSize := metricSeries(t, srv.URL)
	for s := range after {
		if !before[s] {
			t.Errorf("new series %.200s", s)
		}
	}
	// Values may grow by a few digits; series text may not.
	if afterSize > beforeSize+2048 {
		t.Errorf("/metrics grew from %d to %d bytes", beforeSize, afterSize)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(srv.Logs(), "\n") {
		if len(line) > 1024 {
			t.Fatalf("a %d-byte log line: %.200s…", len(line), line)
		}
	}
}

// metricSeries returns the series of /metrics (name and labels, without
// values) and the answer's size.
func metricSeries(t *testing.T, url string) (map[string]bool, int) {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series[line[:strings.LastIndexByte(line, ' ')]] = true
	}
	return series, len(body)
}

// TestMetricsListen: with METRICS_LISTEN, /metrics answers there and not on
// the public port.
func TestMetricsListen(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	cfg := testserver.Config("sqlite://" + filepath.Join(t.TempDir(), "m.sqlite"))
	cfg["METRICS_LISTEN"] = addr
	srv := testserver.Start(t, cfg)
	if r := testserver.Do(t, "GET", srv.URL+"/health", "", nil); r.Status != 200 {
		t.Fatalf("/health: %d", r.Status)
	}
	if r := testserver.Do(t, "GET", srv.URL+"/metrics", "", nil); r.Status != 404 {
		t.Errorf("public /metrics: %d, want 404", r.Status)
	}
	r := testserver.Do(t, "GET", "http://"+addr+"/metrics", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `nosana_secrets_http_requests_total{code="200",method="GET",route="/health"} 1`) {
		t.Errorf("METRICS_LISTEN /metrics: %d %.300s", r.Status, r.Body)
	}
}
