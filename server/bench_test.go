package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkGetSecret is GET /secrets/:key on sqlite with 1,000 secrets in
// the namespace, in-process, so a CPU profile shows the server's own cost.
// bench/run.sh measures the same over real HTTP against a bare handler.
func BenchmarkGetSecret(b *testing.B) {
	e := newEnv(b)
	tok := e.login(newWallet())
	var sb strings.Builder
	sb.WriteString(`{"secrets":{`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"key-%d":"value %d: a typical secret of some forty bytes"`, i, i)
	}
	sb.WriteString("}}")
	if r := e.do("POST", "/secrets", tok, sb.String()); r.status != 200 {
		b.Fatal(r.status)
	}
	h := e.handler
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/secrets/key-500", nil)
		req.Header.Set("Authorization", tok)
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	})
}
