package e2e_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// keepsHistory are the backends whose servers answer the v1 history
// routes (the others answer 501).
var keepsHistory = []string{"sqlite", "postgres", "mysql", "redis", "redis_cluster", "mongodb"}

// TestHistoryRoutes drives versions, check-and-set, soft delete, restore
// and the audit trail through the real binary on every backend that keeps
// history, and checks the owner's audit chain verifies at the end.
func TestHistoryRoutes(t *testing.T) {
	for _, b := range backends {
		if !slices.Contains(keepsHistory, b.name) {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			srv := testserver.Start(t, testserver.Config(b.uri(t)))
			a := api{t, srv.URL}
			tok := a.login(authtest.NewWallet())
			version := func(r reply) float64 {
				t.Helper()
				a.expect(r, 200, "", "")
				var m map[string]any
				json.Unmarshal(r.body, &m)
				return m["version"].(float64)
			}
			if v := version(a.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":"one","cas":0}`)); v != 1 {
				t.Fatalf("first version %v", v)
			}
			a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"db/pass":"two"}}`), 200, "", "")

			// Of writers racing with one cas, exactly one wins.
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes := map[int]int{}
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := testserver.Do(t, "PUT", srv.URL+"/v1/secrets/db%2Fpass", tok, `{"value":"three","cas":2}`)
					mu.Lock()
					codes[r.Status]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[200] != 1 || codes[409] != 7 {
				t.Fatalf("racing cas writes answered %v, want one 200 and seven 409", codes)
			}
			if r := a.do("GET", "/v1/secrets/db%2Fpass?version=1", tok, nil); !strings.Contains(string(r.body), `"value":"one"`) {
				t.Errorf("version 1: %d %s", r.status, r.body)
			}
			a.expect(a.do("DELETE", "/secrets", tok, `{"key":["db/pass"]}`), 200, "", "")
			a.expect(a.do("GET", "/secrets/db%2Fpass", tok, nil), 404, "NotFoundError", "not found")
			if r := a.do("GET", "/v1/secrets/db%2Fpass", tok, nil); r.status != 404 || r.field(t, "code") != "secret_deleted" {
				t.Errorf("a deleted key: %d %s", r.status, r.body)
			}
			var vs struct {
				Items []struct {
					Version   int64
					DeletedAt *string `json:"deleted_at"`
				}
			}
			json.Unmarshal(a.do("GET", "/v1/secrets/db%2Fpass/versions", tok, nil).body, &vs)
			if len(vs.Items) != 4 || vs.Items[0].Version != 4 || vs.Items[0].DeletedAt == nil || vs.Items[3].Version != 1 {
				t.Fatalf("versions %+v", vs.Items)
			}
			if v := version(a.do("POST", "/v1/secrets/db%2Fpass/restore", tok, `{"version":1}`)); v != 5 {
				t.Errorf("restored as version %v", v)
			}
			if r := a.do("GET", "/secrets/db%2Fpass", tok, nil); string(r.body) != `"one"` {
				t.Errorf("legacy GET after restore: %d %s", r.status, r.body)
			}

			var page struct{ Items []audit.Event }
			json.Unmarshal(a.do("GET", "/v1/audit?limit=1000", tok, nil).body, &page)
			slices.Reverse(page.Items)
			if _, err := audit.Verify(page.Items); err != nil {
				t.Fatalf("the audit chain: %v", err)
			}
			var actions []string
			for _, e := range page.Items {
				if e.Action != audit.Read && e.Action != audit.Login {
					actions = append(actions, string(e.Action))
				}
			}
			if got := strings.Join(actions, " "); got != "write write write delete restore" {
				t.Errorf("write events %q", got)
			}

			// The key listing shows versions and times; the legacy one, read
			// without them (storage.ValueLister), the same value.
			var keys struct {
				Items []struct {
					Key       string
					Version   int64
					CreatedAt time.Time `json:"created_at"`
					UpdatedAt time.Time `json:"updated_at"`
				}
			}
			json.Unmarshal(a.do("GET", "/v1/secrets", tok, nil).body, &keys)
			if len(keys.Items) != 1 || keys.Items[0].Key != "db/pass" || keys.Items[0].Version != 5 ||
				keys.Items[0].CreatedAt.IsZero() || keys.Items[0].UpdatedAt.Before(keys.Items[0].CreatedAt) {
				t.Errorf("GET /v1/secrets: %+v", keys.Items)
			}
			if r := a.do("GET", "/secrets", tok, nil); string(r.body) != `{"db/pass":"one"}` {
				t.Errorf("GET /secrets: %d %s", r.status, r.body)
			}
		})
	}
}
