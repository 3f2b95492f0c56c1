package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// TestHistoryThroughBinary drives the v1 history and audit routes through
// the real binary on each backend that keeps history: versions, a stale
// check-and-set refused, soft delete, restore, and an audit log that
// verifies and names every write.
func TestHistoryThroughBinary(t *testing.T) {
	for _, b := range backends {
		if b.name == "redis" {
			continue // keeps no history: its routes answer 501 (server tests)
		}
		t.Run(b.name, func(t *testing.T) {
			uri := b.uri(t)
			srv := testserver.Start(t, testserver.Config(uri))
			a := api{t, srv.URL}
			tok := a.login(newWallet())

			a.expect(a.do("PUT", "/v1/secrets/db", tok, `{"value":"one","cas":0}`), 200, "", "")
			a.expect(a.do("POST", "/secrets", tok, `{"secrets":{"db":"two"}}`), 200, "", "") // legacy write: version 2
			a.expect(a.do("PUT", "/v1/secrets/db", tok, `{"value":"stale","cas":1}`), 409, "ConflictError", "")
			if r := a.do("GET", "/v1/secrets/db?version=1", tok, nil); r.status != 200 || r.field(t, "value") != "one" {
				t.Fatalf("version 1: %d %s", r.status, r.body)
			}
			if r := a.do("GET", "/secrets/db", tok, nil); r.status != 200 || string(r.body) != `"two"` {
				t.Fatalf("legacy read of the newest: %d %s", r.status, r.body)
			}

			a.expect(a.do("DELETE", "/v1/secrets/db", tok, nil), 200, "", "")
			if r := a.do("GET", "/secrets/db", tok, nil); r.status != 404 {
				t.Fatalf("legacy read of a deleted key: %d %s", r.status, r.body)
			}
			if r := a.do("GET", "/v1/secrets/db", tok, nil); r.status != 404 || r.field(t, "code") != "secret_deleted" {
				t.Fatalf("v1 read of a deleted key: %d %s", r.status, r.body)
			}
			var vs struct {
				Items []struct {
					Version   int64   `json:"version"`
					DeletedAt *string `json:"deleted_at"`
				} `json:"items"`
			}
			r := a.do("GET", "/v1/secrets/db/versions", tok, nil)
			if err := json.Unmarshal(r.body, &vs); err != nil || r.status != 200 || len(vs.Items) != 3 ||
				vs.Items[0].Version != 3 || vs.Items[0].DeletedAt == nil || vs.Items[2].Version != 1 {
				t.Fatalf("versions: %d %s", r.status, r.body)
			}

			a.expect(a.do("POST", "/v1/secrets/db/restore", tok, `{"version":1}`), 200, "", "")
			if r := a.do("GET", "/secrets/db", tok, nil); r.status != 200 || string(r.body) != `"one"` {
				t.Fatalf("after restoring version 1: %d %s", r.status, r.body)
			}

			if err := srv.Stop(); err != nil { // flushes the read events
				t.Fatal(err)
			}
			srv = testserver.Start(t, testserver.Config(uri)) // what was stored, not what was cached
			a = api{t, srv.URL}
			var page struct {
				Items []audit.Event `json:"items"`
			}
			r = a.do("GET", "/v1/audit?limit=100", tok, nil)
			if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
				t.Fatalf("audit: %d %s", r.status, r.body)
			}
			log := page.Items
			for i, j := 0, len(log)-1; i < j; i, j = i+1, j-1 {
				log[i], log[j] = log[j], log[i]
			}
			if _, err := audit.Verify(log); err != nil {
				t.Fatalf("the audit log does not verify: %v", err)
			}
			count := map[audit.Action]int{}
			for _, e := range log {
				count[e.Action]++
			}
			if count[audit.Write] != 2 || count[audit.Delete] != 1 || count[audit.Restore] != 1 || count[audit.Denied] > 0 {
				t.Errorf("audit actions %v, want 2 writes, a delete and a restore: %+v", count, log)
			}
		})
	}
}
