package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

type keyPage struct {
	Items []struct {
		Key       string    `json:"key"`
		Version   int64     `json:"version"`
		Size      int       `json:"size"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// TestV1ListKeys: GET /v1/secrets pages through the keys with their
// metadata and never a value.
func TestV1ListKeys(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	var sb strings.Builder
	sb.WriteString(`{"secrets":{`)
	for i := range 25 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"app/k%02d":"secret-value-%02d"`, i, i)
	}
	sb.WriteString(`,"other":"x"}}`)
	if r := e.do("POST", "/secrets", tok, sb.String()); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/secrets", tok, `{"secrets":{"app/k03":{"a":1}}}`); r.status != 200 {
		t.Fatalf("overwrite: %d %s", r.status, r.body)
	}

	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{"prefix": {"app/"}, "limit": {"10"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := e.do("GET", "/v1/secrets?"+q.Encode(), tok, nil)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		if strings.Contains(string(r.body), "secret-value") {
			t.Fatalf("a value in the key listing: %s", r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		var p keyPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			keys = append(keys, it.Key)
			if it.CreatedAt.IsZero() || it.UpdatedAt.Before(it.CreatedAt) {
				t.Errorf("%s: created %v updated %v", it.Key, it.CreatedAt, it.UpdatedAt)
			}
			switch it.Key {
			case "app/k03":
				if it.Version != 2 || it.Size != len(`{"a":1}`) {
					t.Errorf("app/k03: version %d size %d, want 2 and 7", it.Version, it.Size)
				}
			case "app/k04":
				if it.Version != 1 || it.Size != len(`"secret-value-04"`) {
					t.Errorf("app/k04: version %d size %d", it.Version, it.Size)
				}
			}
		}
		if p.NextCursor == nil {
			if pages != 2 || len(p.Items) != 5 {
				t.Errorf("last page %d has %d items, want page 2 with 5", pages, len(p.Items))
			}
			break
		}
		if len(p.Items) != 10 || pages > 3 {
			t.Fatalf("page %d: %d items, cursor %v", pages, len(p.Items), *p.NextCursor)
		}
		cursor = *p.NextCursor
	}
	if len(keys) != 25 || keys[0] != "app/k00" || keys[24] != "app/k24" {
		t.Fatalf("keys %v", keys)
	}

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=%25%25"} {
		r := e.do("GET", "/v1/secrets?"+q, tok, nil)
		wantError(t, r, 400, "ValidationError", "")
	}
	wantError(t, e.do("GET", "/v1/secrets", "", nil), 403, "ForbiddenError", "Not authenticated")
}
