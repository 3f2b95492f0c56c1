package e2e_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// bodyOf returns a valid POST /secrets body of exactly n bytes.
func bodyOf(n int) string {
	const head, tail = `{"secrets":{"k":"`, `"}}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// onlyReader hides a reader's length, so the client sends it chunked.
type onlyReader struct{ io.Reader }

// TestBodyLimitEdges: with a BODY_LIMIT other than the default, a body of
// exactly the limit is stored and one byte more is 413, whether its length
// is declared (Content-Length) or not (chunked).
func TestBodyLimitEdges(t *testing.T) {
	const limit = 2048
	cfg := testserver.Config("sqlite://" + filepath.Join(t.TempDir(), "b.sqlite"))
	cfg["BODY_LIMIT"] = "2048"
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	tok := a.login(authtest.NewWallet())
	for _, chunked := range []bool{false, true} {
		for _, tc := range []struct {
			size, status int
		}{{limit, 200}, {limit + 1, 413}} {
			body := bodyOf(tc.size)
			var rd io.Reader = strings.NewReader(body)
			if chunked {
				rd = onlyReader{rd}
			}
			req, err := http.NewRequest("POST", srv.URL+"/secrets", rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("chunked=%v, %d bytes: %d %s, want %d", chunked, tc.size, res.StatusCode, got, tc.status)
			}
			if wantTE := chunked; wantTE != (len(req.TransferEncoding) > 0 || req.ContentLength <= 0) {
				t.Errorf("chunked=%v: sent with Content-Length %d", chunked, req.ContentLength)
			}
			if tc.status == 413 && !strings.Contains(string(got), `"PayloadTooLarge"`) {
				t.Errorf("413 body %s", got)
			}
		}
	}
}
