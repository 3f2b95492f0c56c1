package e2e_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

const replicaURL = "https://secrets.replicas.test"

// TestReplicasShareState starts three servers on one PostgreSQL, on one
// MySQL, on one Redis, on one Redis Cluster and on one MongoDB, as behind a load balancer: a sign-in message used at one is
// refused at the others, a write at one is read at the others, and rate
// limits count the requests of all three.
func TestReplicasShareState(t *testing.T) {
	for _, b := range backends {
		if b.name != "postgres" && b.name != "mysql" && b.name != "redis" && b.name != "redis_cluster" && b.name != "mongodb" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			cfg := testserver.Config(b.uri(t))
			cfg["PUBLIC_URL"] = replicaURL
			cfg["RATE_LIMIT_SYNC"] = "0"
			cfg["RATE_LIMIT_LOGIN_ADDRESS"] = "7"
			cfg["RATE_LIMIT_SECRETS_ADDRESS"] = "9"
			var rs []api
			for i := 0; i < 3; i++ {
				rs = append(rs, api{t, testserver.Start(t, cfg).URL})
			}
			w := authtest.NewWallet()

			// One message, three servers: only the first accepts it.
			msg := w.SIWSLogin(replicaURL)
			r := rs[0].do("POST", "/login", "", msg)
			if r.status != 200 {
				t.Fatalf("first use: %d %s", r.status, r.body)
			}
			tok := "Bearer " + r.field(t, "token")
			for _, other := range rs[1:] {
				other.expect(other.do("POST", "/login", "", msg), 400, "ValidationError", "used already")
			}

			// Written at one, read at the others (the token too is shared).
			rs[0].expect(rs[0].do("POST", "/secrets", tok, `{"secrets":{"shared":"yes"}}`), 200, "", "")
			for _, other := range rs[1:] {
				if r := other.do("GET", "/secrets/shared", tok, nil); string(r.body) != `"yes"` {
					t.Errorf("replica read: %d %s", r.status, r.body)
				}
			}
			// 3 /secrets requests so far; 6 more spread over the replicas
			// reach the limit of 9, and the next one anywhere is refused.
			for i := 0; i < 6; i++ {
				rs[i%3].expect(rs[i%3].do("GET", "/secrets", tok, nil), 200, "", "")
			}
			for _, x := range rs {
				x.expect(x.do("GET", "/secrets", tok, nil), 429, "TooManyRequestsError", "")
			}
			// Logins: 1 so far; 6 more reach 7; the 8th is refused.
			for i := 0; i < 6; i++ {
				if r := rs[(i+1)%3].do("POST", "/login", "", w.SIWSLogin(replicaURL)); r.status != 200 {
					t.Fatalf("login %d: %d %s", i, r.status, r.body)
				}
			}
			r = rs[2].do("POST", "/login", "", w.SIWSLogin(replicaURL))
			rs[2].expect(r, 429, "TooManyRequestsError", "logins")
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
}
