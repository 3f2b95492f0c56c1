package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/redisstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestRedisFailover kills the primary that holds a test owner's keys under
// a bounded load through the real server, on a Redis Cluster and behind
// Sentinel, with REDIS_WAIT_REPLICAS 0 and 1. Its replica is first stalled
// for a second (SIGSTOP, as a replica that lags does), then the primary is
// SIGKILLed and the replica resumed; once it has been promoted, the killed
// node is started again and rejoins as a replica. The server must answer
// every request (200, or 503 while the switch lasts, never a 500 or a
// dropped connection) and serve writes again without a restart; with WAIT 1
// every write it acknowledged must be there after. With WAIT 0, what the
// lagging replica had not received is lost: the test reports how much.
//
// These clusters are the test's alone (NOSANA_TEST_REDIS_FAILOVER_*): it
// changes which node is primary.
func TestRedisFailover(t *testing.T) {
	for _, kind := range []string{"cluster", "sentinel"} {
		t.Run(kind, func(t *testing.T) {
			uri := storagetest.URI(t, "redis_failover_"+kind)
			for _, wait := range []int{0, 1} {
				t.Run(fmt.Sprintf("wait%d", wait), func(t *testing.T) { failover(t, uri, wait) })
			}
		})
	}
}

// node is one redis-server of the topology.
type node struct {
	addr   string
	pid    int
	config string // its config file: how to start it again
}

func nodeInfo(ctx context.Context, t *testing.T, addr string) node {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("INFO server of %s: %v", addr, err)
	}
	n := node{addr: addr}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			n.pid, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(line, "config_file:"); ok {
			n.config = v
		}
	}
	if n.pid == 0 || n.config == "" {
		t.Fatalf("INFO server of %s has no process_id or config_file", addr)
	}
	return n
}

// onlineReplica returns the address of a replica of primary whose link is
// up, or "".
func onlineReplica(ctx context.Context, primary string) string {
	c := redis.NewClient(&redis.Options{Addr: primary, DisableIdentity: true})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:master") {
		return ""
	}
	for _, line := range strings.Split(info, "\r\n") {
		// slave0:ip=127.0.0.1,port=7001,state=online,offset=…,lag=0
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "state=online") {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Split(line[strings.IndexByte(line, ':')+1:], ",") {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		return net.JoinHostPort(f["ip"], f["port"])
	}
	return ""
}

func role(ctx context.Context, addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "role:"); ok {
			return v
		}
	}
	return ""
}

// primaryOf finds the primary that holds owner's keys and an online
// replica of it, waiting for the topology to settle (a node restarted by
// an earlier run may still be syncing).
func primaryOf(t *testing.T, uri, owner string) (primary, replica node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := redisstore.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var addr string
		switch {
		case cfg.Cluster != nil:
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.Cluster.Addrs, DisableIdentity: true})
			n, err := c.MasterForKey(ctx, cfg.Prefix+"{"+owner+"}:data")
			if err == nil {
				addr = n.Options().Addr
			}
			c.Close()
		default:
			c := redis.NewSentinelClient(&redis.Options{Addr: cfg.Failover.SentinelAddrs[0], DisableIdentity: true})
			a, err := c.GetMasterAddrByName(ctx, cfg.Failover.MasterName).Result()
			if err == nil {
				addr = net.JoinHostPort(a[0], a[1])
			}
			c.Close()
		}
		if addr != "" && role(ctx, addr) == "master" {
			if r := onlineReplica(ctx, addr); r != "" {
				return nodeInfo(ctx, t, addr), nodeInfo(ctx, t, r)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no primary with an online replica for %s within 60s", owner)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadStats are what the writers and readers saw.
type loadStats struct {
	mu       sync.Mutex
	acked    map[string]string // key → value of every write answered 200
	statuses map[int]int
	failures []string     // transport errors: the server did not answer
	okAfter  atomic.Int64 // writes served after the kill
	lastFail atomic.Int64 // when a write last failed, unix ns
}

func (s *loadStats) note(status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if len(s.failures) < 5 {
			s.failures = append(s.failures, err.Error())
		}
		return
	}
	s.statuses[status]++
}

// untilStopped starts count goroutines in wg; goroutine i calls step(i, n)
// for n = 0, 1, … until stop is closed.
func untilStopped(wg *sync.WaitGroup, stop <-chan struct{}, count int, step func(i, n int)) {
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				step(i, n)
			}
		}()
	}
}

func failover(t *testing.T, uri string, wait int) {
	cfg := testserver.Config(uri)
	cfg["REDIS_WAIT_REPLICAS"] = strconv.Itoa(wait)
	cfg["STORE_TIMEOUT"] = "3s"
	// The load writes 128 KiB values for seconds: past the default 64 MiB
	// quota per owner, which Redis counts now.
	cfg["QUOTA_BYTES"] = "0"
	for _, k := range []string{"RATE_LIMIT_LOGIN_IP", "RATE_LIMIT_LOGIN_ADDRESS", "RATE_LIMIT_SECRETS_IP", "RATE_LIMIT_SECRETS_ADDRESS"} {
		cfg[k] = "0"
	}
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	w := authtest.NewWallet()
	tok := a.login(w)
	primary, replica := primaryOf(t, uri, w.Addr)
	t.Cleanup(func() { dropOwner(t, uri, w.Addr) })
	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"probe":"p"}}`), 200, "", "")

	const writers, readers = 4, 2
	// 128 KiB: a stalled replica's socket buffers (a few MiB) fill in well
	// under its second of stall, so the primary's own buffer holds the rest.
	value := strings.Repeat("x", 128<<10)
	st := &loadStats{acked: map[string]string{}, statuses: map[int]int{}}
	client := &http.Client{Timeout: 15 * time.Second}
	stop := make(chan struct{})
	var killed atomic.Bool
	var wg sync.WaitGroup
	untilStopped(&wg, stop, writers, func(i, n int) {
		key := fmt.Sprintf("w%d-%d", i, n)
		v := fmt.Sprintf("%s-%s", key, value)
		r, err := testserver.TryDo(client, "POST", srv.URL+"/secrets", tok, map[string]any{"secrets": map[string]string{key: v}})
		st.note(r.Status, err)
		if err == nil && r.Status == 200 {
			st.mu.Lock()
			st.acked[key] = v
			st.mu.Unlock()
			if killed.Load() {
				st.okAfter.Add(1)
			}
		} else {
			st.lastFail.Store(time.Now().UnixNano())
		}
		time.Sleep(5 * time.Millisecond)
	})
	untilStopped(&wg, stop, readers, func(_, _ int) {
		r, err := testserver.TryDo(client, "GET", srv.URL+"/secrets/probe", tok, nil)
		st.note(r.Status, err)
		time.Sleep(10 * time.Millisecond)
	})

	time.Sleep(time.Second)
	// The replica lags: stopped for a second while the primary acknowledges.
	if err := syscall.Kill(replica.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	st.mu.Lock()
	ackedBeforeKill := len(st.acked)
	st.mu.Unlock()
	if err := syscall.Kill(primary.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	killedAt := time.Now()
	_ = syscall.Kill(replica.pid, syscall.SIGCONT)

	// The replica takes over; then the killed node comes back and rejoins.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for role(ctx, replica.addr) != "master" {
		if ctx.Err() != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("replica %s not promoted within 30s of the kill", replica.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	promoted := time.Since(killedAt)
	// Not before every sentinel names the new primary: a node restarted
	// empty (no persistence here) while one still names it would be taken
	// for the primary and its empty data set replicated over the good one.
	restart := exec.Command("redis-server", primary.config)
	if cfg, _ := redisstore.Parse(uri); cfg.Failover != nil {
		for _, addr := range cfg.Failover.SentinelAddrs {
			c := redis.NewSentinelClient(&redis.Options{Addr: addr, DisableIdentity: true})
			for {
				a, err := c.GetMasterAddrByName(ctx, cfg.Failover.MasterName).Result()
				if err == nil && net.JoinHostPort(a[0], a[1]) == replica.addr {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("sentinel %s does not name the new primary", addr)
				}
				time.Sleep(100 * time.Millisecond)
			}
			c.Close()
		}
		// As an operator would: back as a replica, or the sentinels take
		// 10 to 20 s to demote it.
		host, port, _ := net.SplitHostPort(replica.addr)
		restart.Args = append(restart.Args, "--replicaof", host, port)
	}
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("restarting %s: %v %s", primary.addr, err, out)
	}
	for onlineReplica(ctx, replica.addr) != primary.addr {
		if ctx.Err() != nil {
			t.Fatalf("the restarted %s did not rejoin as a replica of %s", primary.addr, replica.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Writes work again, without a restart of the server.
	for st.okAfter.Load() < 20 {
		if ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	failing := time.Unix(0, st.lastFail.Load()).Sub(killedAt)
	close(stop)
	wg.Wait()
	if n := st.okAfter.Load(); n < 20 {
		t.Fatalf("only %d writes succeeded in the 30s after the kill: the server did not recover", n)
	}

	// Every acknowledged write, read back through the server.
	lost := 0
	for k, v := range st.acked {
		r := a.do("GET", "/secrets/"+k, tok, nil)
		if r.status != 200 || string(r.body) != strconv.Quote(v) {
			lost++
		}
	}
	t.Logf("REDIS_WAIT_REPLICAS=%d: %d writes acknowledged (%d before the kill), %d of them lost; answers %v; replica promoted %.1fs after the kill, last failed write %.1fs after it",
		wait, len(st.acked), ackedBeforeKill, lost, st.statuses, promoted.Seconds(), failing.Seconds())
	if len(st.failures) > 0 {
		t.Errorf("the server did not answer: %v", st.failures)
	}
	for status, n := range st.statuses {
		if status != 200 && status != 503 {
			t.Errorf("%d answers %d (only 200 and 503 are fine during a failover)", n, status)
		}
	}
	if wait > 0 && lost > 0 {
		t.Errorf("with REDIS_WAIT_REPLICAS=%d, %d acknowledged writes were lost", wait, lost)
	}
	a.expect(a.do("GET", "/readyz", "", nil), 200, "", "")
}

// dropOwner deletes every key of owner (they share its slot), so that runs
// do not pile data up in the test's clusters.
func dropOwner(t *testing.T, uri, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := redisstore.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	c := redisstore.NewClient(cfg)
	defer c.Close()
	var n redis.Cmdable = c
	if cc, ok := c.(*redis.ClusterClient); ok {
		if n, err = cc.MasterForKey(ctx, cfg.Prefix+"{"+owner+"}:data"); err != nil {
			t.Errorf("dropping the test owner's keys: %v", err)
			return
		}
	}
	iter := n.Scan(ctx, 0, cfg.Prefix+"{"+owner+"}*", 100).Iterator()
	for iter.Next(ctx) {
		n.Unlink(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("dropping the test owner's keys: %v", err)
	}
}
