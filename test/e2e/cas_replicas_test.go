package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestCASAcrossReplicas: two serve processes on one database (on MongoDB,
// FerretDB through test/ferretdb's front in CI: each process has its own
// update lock, so the server's conditional update decides), clients
// racing PUT /v1/secrets/k with the same cas through both: exactly one
// write wins, every other is 409 with the version the winner wrote, and
// the history holds the winner's value only.
func TestCASAcrossReplicas(t *testing.T) {
	const clients = 16
	for _, b := range backends {
		if b.name != "postgres" && b.name != "mysql" && b.name != "mongodb" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			cfg := testserver.Config(b.uri(t))
			cfg["RATE_LIMIT_SYNC"] = "0"
			replicas := []api{{t, testserver.Start(t, cfg).URL}, {t, testserver.Start(t, cfg).URL}}
			w := authtest.NewWallet()
			toks := []string{replicas[0].login(w), replicas[1].login(w)}
			replicas[0].expect(replicas[0].do("PUT", "/v1/secrets/k", toks[0], map[string]any{"value": "base", "cas": 0}), 200, "", "")

			type answer struct {
				status  int
				body    []byte
				current *int64
			}
			answers := make([]answer, clients)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := replicas[i%2]
					<-start
					r, err := testserver.TryDo(http.DefaultClient, "PUT", a.url+"/v1/secrets/k", toks[i%2], map[string]any{"value": fmt.Sprintf("client %d", i), "cas": 1})
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					var body struct {
						Code           string
						CurrentVersion *int64 `json:"current_version"`
					}
					_ = json.Unmarshal(r.Body, &body)
					answers[i] = answer{r.Status, r.Body, body.CurrentVersion}
				}()
			}
			close(start)
			wg.Wait()

			winner := -1
			for i, a := range answers {
				switch {
				case a.status == 200 && winner < 0:
					winner = i
				case a.status == 200:
					t.Errorf("clients %d and %d both won the cas", winner, i)
				case a.status != 409 || a.current == nil || *a.current != 2:
					t.Errorf("client %d: %d %s, want 409 with current_version 2", i, a.status, a.body)
				}
			}
			if winner < 0 {
				t.Fatalf("no client won the cas: %+v", answers)
			}
			for _, a := range replicas {
				r := a.do("GET", "/v1/secrets/k", toks[0], nil)
				var got struct {
					Value   string
					Version int64
				}
				if err := json.Unmarshal(r.body, &got); err != nil || got.Version != 2 || got.Value != fmt.Sprintf("client %d", winner) {
					t.Errorf("GET at a replica: %d %s, want version 2 of client %d", r.status, r.body, winner)
				}
			}
			r := replicas[1].do("GET", "/v1/secrets/k/versions", toks[1], nil)
			var vs struct{ Items []struct{ Version int64 } }
			if err := json.Unmarshal(r.body, &vs); err != nil || len(vs.Items) != 2 {
				t.Errorf("versions after the race: %s", r.body)
			}
		})
	}
}
