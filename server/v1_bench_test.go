package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/server"
)

// BenchmarkHistory is GET /secrets/:key and a one-key POST /secrets on
// sqlite, in-process, with history (versions, audit trail) on and off:
// the server's own cost of issue 11. bench/history.sh measures the same
// over real HTTP.
func BenchmarkHistory(b *testing.B) {
	for _, off := range []bool{true, false} {
		e := newEnv(b, func(o *server.Options) { o.History.Off = off })
		tok := e.login(authtest.NewWallet())
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
		name := map[bool]string{true: "off", false: "on"}[off]
		b.Run("GET/history="+name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/secrets/key-500", nil)
				req.Header.Set("Authorization", tok)
				for pb.Next() {
					rec := httptest.NewRecorder()
					e.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatal(rec.Code)
					}
				}
			})
		})
		b.Run("POST/history="+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				req := httptest.NewRequest("POST", "/secrets", strings.NewReader(fmt.Sprintf(`{"secrets":{"w-%d":"a value of some forty bytes, like a key"}}`, i%100)))
				req.Header.Set("Authorization", tok)
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
