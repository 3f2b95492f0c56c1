package e2e_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestQuota: QUOTA_SECRETS and QUOTA_BYTES through the real binary. A
// write past either is 413 QuotaExceededError on the legacy and the v1
// routes, the CLI's set exits 1 with one line that says so, and nothing
// of a refused write is stored.
func TestQuota(t *testing.T) {
	cfg := testserver.Config("sqlite://" + filepath.Join(t.TempDir(), "q.sqlite"))
	cfg["QUOTA_SECRETS"] = "3"
	cfg["QUOTA_BYTES"] = "2KiB"
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	tok := a.login(authtest.NewWallet())

	a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"a":"1","b":"2","c":"3"}}`), 200, "", "")
	r := a.do("POST", "/secrets", tok, `{"secrets":{"a":"changed","d":"4"}}`)
	a.expect(r, 413, "QuotaExceededError", "the secrets limit of 3")
	if code := r.field(t, "code"); code != "quota_exceeded" {
		t.Errorf("code %q", code)
	}
	a.expect(a.do("PUT", "/v1/secrets/d", tok, `{"value":"4"}`), 413, "QuotaExceededError", "3 in use")
	if r := a.do("GET", "/secrets", tok, nil); string(r.body) != `{"a":"1","b":"2","c":"3"}` {
		t.Errorf("after refusals: %s", r.body)
	}
	// Bytes: 2 KiB of sealed values, every version counted.
	big := strings.Repeat("x", 1500)
	a.expect(a.do("PUT", "/v1/secrets/a", tok, `{"value":"`+big+`"}`), 200, "", "")
	a.expect(a.do("PUT", "/v1/secrets/a", tok, `{"value":"`+big+`"}`), 413, "QuotaExceededError", "the bytes limit of 2048")
	// Destroying frees room (a soft delete keeps it).
	a.expect(a.do("DELETE", "/v1/secrets/a?destroy=true", tok, nil), 200, "", "")
	a.expect(a.do("PUT", "/v1/secrets/d", tok, `{"value":"4"}`), 200, "", "")

	// The CLI.
	keypair := filepath.Join(t.TempDir(), "id.json")
	env := map[string]string{"NOSANA_SECRETS_KEYPAIR": keypair, "NOSANA_SECRETS_ENDPOINT": srv.URL}
	if code, _, stderr := cli(t, env, nil, "keygen"); code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, env, nil, "set", "A=1", "B=2", "C=3"); code != 0 {
		t.Fatalf("set: %d %s", code, stderr)
	}
	code, stdout, stderr := cli(t, env, nil, "set", "D=4")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || stdout != "" || !strings.Contains(lines[0], "quota exceeded") || !strings.Contains(lines[0], "the secrets limit of 3") ||
		len(lines) > 2 || strings.Contains(stderr, "\x1b") {
		t.Errorf("set past the quota: exit %d, stdout %q, stderr %q; want exit 1 and a line saying so", code, stdout, stderr)
	}
	code, stdout, _ = cli(t, env, nil, "whoami")
	if code != 0 || !strings.Contains(stdout, "usage:     3 of 3 keys, ") || !strings.Contains(stdout, " of 2.0 KiB") {
		t.Errorf("whoami: %d %q", code, stdout)
	}
	if n := quotaRefusals(t, srv.URL); n != 4 {
		t.Errorf("quota refusals counted: %d, want 4", n)
	}
}

// quotaRefusals sums nosana_secrets_quota_refused_writes_total.
func quotaRefusals(t *testing.T, url string) int {
	t.Helper()
	r := api{t, url}.do("GET", "/metrics", "", nil)
	n := 0
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, "nosana_secrets_quota_refused_writes_total{") {
			var v int
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			n += v
		}
	}
	return n
}

// TestQuotaReplicas: two servers on one PostgreSQL, or on one MongoDB
// (CI: FerretDB through test/ferretdb's front, each server with its own
// update lock, so only the server decides), share the count. Writers of
// distinct new keys racing through both never take the owner past the
// limit together: exactly the limit get in. Neither server warns that
// quotas go uncounted.
func TestQuotaReplicas(t *testing.T) {
	for _, b := range backends {
		if b.name != "postgres" && b.name != "mongodb" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			const limit, writers = 10, 40
			cfg := testserver.Config(b.uri(t))
			cfg["QUOTA_SECRETS"] = fmt.Sprint(limit)
			cfg["RATE_LIMIT_SECRETS_ADDRESS"] = "0"
			srvs := []*testserver.Server{testserver.Start(t, cfg), testserver.Start(t, cfg)}
			rs := []api{{t, srvs[0].URL}, {t, srvs[1].URL}}
			tok := rs[0].login(authtest.NewWallet())
			statuses := make([]int, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rs[i%2].do("POST", "/secrets", tok, fmt.Sprintf(`{"secrets":{"k%02d":"v"}}`, i))
					statuses[i] = r.status
				}()
			}
			wg.Wait()
			ok := 0
			for i, s := range statuses {
				switch s {
				case 200:
					ok++
				case 413:
				default:
					t.Errorf("writer %d: status %d", i, s)
				}
			}
			if ok != limit {
				t.Errorf("%d of %d writes got in through two replicas, want exactly %d", ok, writers, limit)
			}
			for _, r := range rs {
				var all map[string]any
				if err := json.Unmarshal(r.do("GET", "/secrets", tok, nil).body, &all); err != nil || len(all) != limit {
					t.Errorf("stored: %d keys, %v", len(all), err)
				}
				var who struct{ Usage struct{ Secrets int } }
				if err := json.Unmarshal(r.do("GET", "/v1/whoami", tok, nil).body, &who); err != nil || who.Usage.Secrets != limit {
					t.Errorf("whoami usage: %+v, %v", who, err)
				}
			}
			if n := quotaRefusals(t, rs[0].url) + quotaRefusals(t, rs[1].url); n != writers-limit {
				t.Errorf("refusals counted by the replicas: %d, want %d", n, writers-limit)
			}
			for _, s := range srvs {
				if logs := s.Logs(); strings.Contains(logs, "does not count quotas") {
					t.Errorf("serve warns that quotas are not counted: %s", logs)
				}
			}
		})
	}
}
