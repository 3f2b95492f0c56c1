package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/jsonlog"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/stack"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

// BenchmarkListSecrets is GET /secrets of 1,000 values of 100 bytes on the
// sqlite stack, without the network.
func BenchmarkListSecrets(b *testing.B) { benchGet(b, "/secrets", nil) }

// BenchmarkGetSecret is GET /secrets/:key on the same stack, with the
// request log on (as serve writes JSON, to io.Discard): the middleware's own cost.
func BenchmarkGetSecret(b *testing.B) {
	benchGet(b, "/secrets/key-500", slog.New(jsonlog.New(io.Discard, nil)))
}

// BenchmarkGetSecretAccessToken is BenchmarkGetSecret with an access token
// (nst_…) instead of the wallet's: its check is a cache lookup, and a
// meta read every 500 ms.
func BenchmarkGetSecretAccessToken(b *testing.B) {
	benchGetWith(b, "/secrets/key-500", slog.New(jsonlog.New(io.Discard, nil)), true)
}

func benchGet(b *testing.B, path string, log *slog.Logger) { benchGetWith(b, path, log, false) }

func benchGetWith(b *testing.B, path string, log *slog.Logger, access bool) {
	ctx := context.Background()
	st, err := stack.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "p.sqlite"), stack.Options{MasterKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	items := make([]storage.Item, 1000)
	for i := range items {
		items[i] = storage.Item{Name: fmt.Sprintf("key-%03d", i), Value: []byte(`"` + string(bytes.Repeat([]byte("v"), 98)) + `"`)}
	}
	owner := "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"
	if err := st.Put(ctx, owner, items); err != nil {
		b.Fatal(err)
	}
	tokens, _ := auth.NewTokens(bytes.Repeat([]byte{2}, 32), 0, nil)
	srv, err := server.New(server.Options{Store: st, Tokens: tokens, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, _ := tokens.Issue(auth.Claims{Address: owner}, time.Time{})
	h := srv.Handler()
	if access {
		req := httptest.NewRequest("POST", "/v1/tokens", strings.NewReader(`{"name":"bench"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Token == "" {
			b.Fatal(rec.Code, rec.Body.String())
		}
		tok = m.Token
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
