// Package jobdef measures a node's fetch of a confidential job definition
// through the real binary, with the fake RPC node and gateway answering in
// 20 ms as a remote RPC provider does: the RPC and gateway calls per fetch
// on a cold cache and a warm one, and the latency. Run
//
//	go test ./bench/jobdef -run Fetch -v             # calls per fetch, p50/p99
//	JOBDEF_FETCHES=2000 go test ./bench/jobdef -run Fetch -v
package jobdef

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
)

const remote = 20 * time.Millisecond

func TestFetchCallsAndLatency(t *testing.T) {
	n := 50
	if s := os.Getenv("JOBDEF_FETCHES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ch := jobstest.NewChain(t)
	rpc, gw := ch.RPC, ch.Gateway
	rpc.SetDelay(remote)
	gw.SetDelay(remote)
	cfg := ch.Config("sqlite://" + filepath.Join(t.TempDir(), "bench.sqlite"))
	cfg["JOB_DEFINITION_FETCHES"] = "1000"
	cfg["RATE_LIMIT_SECRETS_IP"] = "0"
	srv := testserver.Start(t, cfg)

	_, projectKey, _ := ed25519.GenerateKey(nil)
	_, nodeKey, _ := ed25519.GenerateKey(nil)
	project := base58.Encode(projectKey.Public().(ed25519.PublicKey))
	node := base58.Encode(nodeKey.Public().(ed25519.PublicKey))
	ts := time.Now().Unix()
	login := testserver.Do(t, "POST", srv.URL+"/login", "", map[string]any{"address": project,
		"signature": base58.Encode(ed25519.Sign(projectKey, []byte("nosana_secret_"+strconv.FormatInt(ts, 10)))), "timestamp": ts})
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Body)
	}
	tok := "Bearer " + strings.Split(strings.Split(string(login.Body), `"token":"`)[1], `"`)[0]
	testserver.Do(t, "POST", srv.URL+"/secrets", tok, `{"secrets":{"A":"a","B":{"x":1},"C":"c"}}`)
	tmpl := `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"r","args":{"image":"u","env":{"A":"%%secrets.A%%","B":"%%secrets.B%%","C":"%%secrets.C%%"}}}]}`
	if r := testserver.Do(t, "PUT", srv.URL+"/v1/job-definitions/bench", tok, tmpl); r.Status != 200 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	placeholder := func(i int) []byte {
		// Each job its own document (a nonce in meta), so every cold fetch
		// also misses the document cache.
		return []byte(fmt.Sprintf(`{"version":"0.1","type":"container","meta":{"n":%d},"ops":[],"logistics":{"send":{"type":"api","args":{"endpoint":"%s/v1/jobs/%%%%global.job%%%%/job-definition?name=bench"}},"receive":{"type":"api","args":{"endpoint":"%s/v1/jobs/%%%%global.job%%%%/results"}}}}`, i, srv.URL, srv.URL))
	}
	newJob := func(i int) solana.PublicKey {
		return ch.PutRunning(gw.Add(placeholder(i)), project, node, 600)
	}
	client := &http.Client{}
	fetch := func(job solana.PublicKey) time.Duration {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/jobs/"+job.String()+"/job-definition?name=bench", nil)
		req.Header.Set("Authorization", job.String()+":"+base58.Encode(ed25519.Sign(nodeKey, []byte(job.String())))+":"+strconv.FormatInt(time.Now().UnixMilli(), 10))
		start := time.Now()
		res, err := client.Do(req)
		d := time.Since(start)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("fetch: %v %v", err, res)
		}
		res.Body.Close()
		return d
	}
	report := func(name string, lat []time.Duration, rpcCalls, gwCalls int) {
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
		t.Logf("%s: %d fetches, %.2f RPC calls and %.2f gateway calls per fetch, p50 %s, p99 %s",
			name, len(lat), float64(rpcCalls)/float64(len(lat)), float64(gwCalls)/float64(len(lat)),
			p(0.50).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond))
	}

	jobs := make([]solana.PublicKey, n)
	for i := range jobs {
		jobs[i] = newJob(i)
	}
	rpc.ResetCalls()
	gw0 := gw.Total()
	var cold []time.Duration
	for _, j := range jobs {
		cold = append(cold, fetch(j))
	}
	coldRPC, coldGW := len(rpc.Requests()), gw.Total()-gw0
	report("cold", cold, coldRPC, coldGW)
	if coldRPC > 3*n || coldGW > n {
		t.Errorf("cold: %d RPC and %d gateway calls for %d fetches; want at most 3 and 1 each", coldRPC, coldGW, n)
	}

	rpc.ResetCalls()
	gw0 = gw.Total()
	var warm []time.Duration
	for i := 0; i < n; i++ {
		warm = append(warm, fetch(jobs[i%len(jobs)]))
	}
	warmRPC, warmGW := len(rpc.Requests()), gw.Total()-gw0
	report("warm", warm, warmRPC, warmGW)
	if warmRPC > n || warmGW > 0 {
		t.Errorf("warm: %d RPC and %d gateway calls for %d fetches; want 1 and 0 each", warmRPC, warmGW, n)
	}
}
