package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to look at the clusters

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestPostgresFailover: one server on a multi-host URI over a primary and
// its synchronous standby (.ci/pgfailover.sh builds them), under a bounded
// load of writes and reads. The primary is stopped at once (as a crash) and
// the standby promoted. The same server process finds the new primary by
// itself; every failure meanwhile is a JSON 503, /readyz is 503 during the
// switch and 200 after, and every write answered 200 is there afterwards.
// The log gives the seconds writes were unavailable.
func TestPostgresFailover(t *testing.T) {
	spec := strings.Fields(storagetest.URI(t, "pg_failover"))
	if len(spec) != 3 {
		t.Fatalf("NOSANA_TEST_PG_FAILOVER = %q; want \"URI VERSION/PRIMARY VERSION/STANDBY\" (see .ci/pgfailover.sh)", spec)
	}
	uri, primary, standby := spec[0], spec[1], spec[2]
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	hosts := strings.Split(u.Host, ",")
	if len(hosts) != 2 {
		t.Fatalf("want a URI with two hosts, primary first: %s", u.Host)
	}
	// The pair must be as built: a second run needs the script again.
	for i, want := range []bool{false, true} {
		if got := inRecovery(t, u, hosts[i]); got != want {
			t.Fatalf("%s: pg_is_in_recovery() = %v, want %v: the pair is not as .ci/pgfailover.sh builds it (did a run fail over already?)",
				hosts[i], got, want)
		}
	}

	cfg := testserver.Config(uri)
	cfg["STORE_TIMEOUT"] = "2s"
	for _, k := range []string{"RATE_LIMIT_LOGIN_IP", "RATE_LIMIT_LOGIN_ADDRESS", "RATE_LIMIT_SECRETS_IP", "RATE_LIMIT_SECRETS_ADDRESS"} {
		cfg[k] = "0"
	}
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	tok := a.login(authtest.NewWallet())
	client := &http.Client{Timeout: 10 * time.Second}

	var (
		mu        sync.Mutex
		acked     = map[string]string{} // key → value of every write answered 200
		ackedKeys []string
		writes    []event // every write's outcome, in order of answer
		reads     []event
		ready     []event
		problems  []string // answers that are neither 200 nor a JSON 503
	)
	note := func(list *[]event, e event) {
		mu.Lock()
		*list = append(*list, e)
		if e.err != nil || e.status != 200 && e.status != http.StatusServiceUnavailable {
			problems = append(problems, e.String())
		}
		mu.Unlock()
	}
	do := func(method, path string, body any) (event, []byte) {
		r, err := testserver.TryDo(client, method, srv.URL+path, tok, body)
		e := event{at: time.Now(), what: method + " " + path, status: r.Status, err: err}
		if err == nil && r.Status == http.StatusServiceUnavailable {
			var b struct{ Type, Code string }
			if json.Unmarshal(r.Body, &b) != nil || b.Type != "InternalServerError" || b.Code != "unavailable" {
				e.err = fmt.Errorf("503 body %q", r.Body)
			}
		}
		return e, r.Body
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	const writers, readers = 4, 2
	for w := range writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				e, _ := do("POST", "/secrets", map[string]any{"secrets": map[string]string{k: v}})
				note(&writes, e)
				if e.err == nil && e.status == 200 {
					mu.Lock()
					acked[k] = v
					ackedKeys = append(ackedKeys, k)
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond) // a bounded load, not a flood
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for i := r; ctx.Err() == nil; i += readers {
				mu.Lock()
				var k, v string
				if len(ackedKeys) > 0 {
					k = ackedKeys[i%len(ackedKeys)]
					v = acked[k]
				}
				mu.Unlock()
				if k != "" {
					e, body := do("GET", "/secrets/"+k, nil)
					if e.status == 200 && string(body) != `"`+v+`"` {
						e.err = fmt.Errorf("read %s, want %q", body, v)
					}
					note(&reads, e)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			e, _ := do("GET", "/readyz", nil)
			note(&ready, e)
			time.Sleep(50 * time.Millisecond)
		}
	})

	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	before := len(writes)
	mu.Unlock()
	stoppedAt := time.Now()
	ctl(t, primary, "stop", "-m", "immediate")
	t.Logf("%d writes before the primary stopped; stopped it in %s", before, time.Since(stoppedAt).Round(time.Millisecond))

	// Promote as soon as the server has noticed (as failover tooling would
	// once its health check fails).
	waitFor(t, 20*time.Second, "a 503 from /readyz after the primary stopped", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstAfter(ready, stoppedAt, http.StatusServiceUnavailable) != nil
	})
	promotedAt := time.Now()
	ctl(t, standby, "promote")
	promoted := time.Now()

	waitFor(t, 30*time.Second, "2 s of successful writes after the promotion", func() bool {
		mu.Lock()
		defer mu.Unlock()
		ok := firstAfter(writes, promoted, 200)
		return ok != nil && time.Since(ok.at) > 2*time.Second
	})
	stop()
	wg.Wait()
	select {
	case <-srv.Done():
		t.Fatal("the server exited")
	default:
	}

	for _, p := range problems {
		t.Errorf("neither 200 nor a JSON 503: %s", p)
	}
	for _, e := range append(writes, reads...) {
		if e.at.Before(stoppedAt) && e.status != 200 {
			t.Errorf("before the primary stopped: %s", e)
		}
	}
	if firstAfter(reads, promoted, 200) == nil {
		t.Error("no read succeeded after the promotion")
	}
	if e := firstAfter(ready, stoppedAt, 200); e == nil {
		t.Error("/readyz was never 200 again")
	} else if last := ready[len(ready)-1]; last.status != 200 {
		t.Errorf("/readyz at the end: %s", last)
	}
	if e := lastBefore(ready, stoppedAt); e == nil || e.status != 200 {
		t.Errorf("/readyz before the primary stopped: %v", e)
	}

	failed := firstAfter(writes, stoppedAt, http.StatusServiceUnavailable)
	if failed == nil {
		t.Fatal("no write failed while there was no primary")
	}
	back := firstAfter(writes, failed.at, 200)
	n503 := 0
	for _, e := range writes {
		if e.status == http.StatusServiceUnavailable {
			n503++
		}
	}
	t.Logf("writes unavailable for %.2f s: first 503 %.2f s after the stop, first 200 again %.2f s after the promotion began "+
		"(pg_ctlcluster promote took %.2f s); %d writes: %d answered 200, %d answered 503",
		back.at.Sub(failed.at).Seconds(), failed.at.Sub(stoppedAt).Seconds(), back.at.Sub(promotedAt).Seconds(),
		promoted.Sub(promotedAt).Seconds(), len(writes), len(acked), n503)

	// Every acknowledged write is on the new primary, read through the
	// same server.
	var list map[string]string
	r := a.do("GET", "/secrets", tok, nil)
	if r.status != 200 {
		t.Fatalf("listing after the failover: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("listing %q: %v", r.body, err)
	}
	missing := 0
	for k, v := range acked {
		if list[k] != v {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged write %s=%s reads back as %q", k, v, list[k])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes are missing after the failover", missing, len(acked))
	}
	if inRecovery(t, u, hosts[1]) {
		t.Error("the standby is still in recovery")
	}
}

// event is one answer of the load.
type event struct {
	at     time.Time
	what   string
	status int
	err    error
}

func (e event) String() string {
	if e.err != nil {
		return fmt.Sprintf("%s at %s: %d %v", e.what, e.at.Format("15:04:05.000"), e.status, e.err)
	}
	return fmt.Sprintf("%s at %s: %d", e.what, e.at.Format("15:04:05.000"), e.status)
}

// firstAfter is the first event at or after t with status, or nil.
func firstAfter(es []event, t time.Time, status int) *event {
	for i := range es {
		if !es[i].at.Before(t) && es[i].status == status && es[i].err == nil {
			return &es[i]
		}
	}
	return nil
}

// lastBefore is the last event before t, or nil.
func lastBefore(es []event, t time.Time) *event {
	var last *event
	for i := range es {
		if es[i].at.Before(t) {
			last = &es[i]
		}
	}
	return last
}

// ctl runs pg_ctlcluster on a cluster named VERSION/NAME. (Run as root it
// acts as the cluster's owner; without systemd it must not redirect.)
func ctl(t *testing.T, cluster string, args ...string) {
	t.Helper()
	ver, name, ok := strings.Cut(cluster, "/")
	if !ok {
		t.Fatalf("cluster %q: want VERSION/NAME", cluster)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pg_ctlcluster", append([]string{"--skip-systemctl-redirect", ver, name}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster %s %s: %v: %s", cluster, strings.Join(args, " "), err, out)
	}
}

// inRecovery asks the server at host (one host of u) whether it is a standby.
func inRecovery(t *testing.T, u *url.URL, host string) bool {
	t.Helper()
	one := *u
	one.Host = host
	one.RawQuery = "sslmode=disable&connect_timeout=5"
	db, err := sql.Open("pgx", one.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rec bool
	if err := db.QueryRow("SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	return rec
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
