package server_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/server"
)

// quotaEnv is a server whose store enforces q, as serve sets it up.
func quotaEnv(t *testing.T, q storage.Quota) *env {
	e := newEnv(t, func(o *server.Options) { o.Quota = q })
	e.store.SetQuota(q)
	return e
}

func wantQuota(t *testing.T, r resp, limit string, used, max int64) {
	t.Helper()
	wantError(t, r, 413, "QuotaExceededError", "quota exceeded")
	m := r.json(t)
	if m["code"] != errcode.QuotaExceeded {
		t.Errorf("code %v, want %s", m["code"], errcode.QuotaExceeded)
	}
	msg, _ := m["message"].(string)
	for _, want := range []string{"the " + limit + " limit of " + itoa(max), itoa(used) + " in use", "nothing was written"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func usageOf(t *testing.T, e *env, tok string) (usage, quota [2]int64) {
	t.Helper()
	r := e.do("GET", "/v1/whoami", tok, nil)
	if r.status != 200 {
		t.Fatalf("whoami: %d %s", r.status, r.body)
	}
	m := r.json(t)
	pair := func(k string) [2]int64 {
		v, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("whoami has no %s: %s", k, r.body)
		}
		return [2]int64{int64(v["secrets"].(float64)), int64(v["bytes"].(float64))}
	}
	return pair("usage"), pair("quota")
}

// TestQuotaRefusals: every write route answers 413 QuotaExceededError
// past the quota, writes nothing, counts the refusal by limit, and
// whoami shows the owner's use and the limits.
func TestQuotaRefusals(t *testing.T) {
	e := quotaEnv(t, storage.Quota{Secrets: 3})
	owner := e.login(authtest.NewWallet())
	if r := e.do("POST", "/secrets", owner, `{"secrets":{"a":"1","b":"2","c":"3"}}`); r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	use, quota := usageOf(t, e, owner)
	if use[0] != 3 || use[1] <= 3 || quota != [2]int64{3, 0} {
		t.Fatalf("whoami usage %v quota %v; want 3 keys of sealed bytes, quota [3 0]", use, quota)
	}
	wantQuota(t, e.do("POST", "/secrets", owner, `{"secrets":{"a":"x","d":"4"}}`), storage.LimitSecrets, 3, 3)
	wantQuota(t, e.do("PUT", "/v1/secrets/d", owner, `{"value":"4"}`), storage.LimitSecrets, 3, 3)
	if r := e.do("GET", "/secrets/d", owner, nil); r.status != 404 {
		t.Errorf("refused key d: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets/a", owner, nil); r.status != 200 || string(r.body) != `"1"` {
		t.Errorf("a after a refused batch: %d %s", r.status, r.body)
	}
	time.Sleep(2 * time.Millisecond)
	before := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	e.now = time.Now()
	// Overwrites and deletes go through at the limit.
	if r := e.do("PUT", "/v1/secrets/a", owner, `{"value":"2"}`); r.status != 200 {
		t.Fatalf("overwrite at the limit: %d %s", r.status, r.body)
	}

	// The bytes limit, lowered to what is in use now: restores and
	// point-in-time restores write new versions, so they are refused.
	use, _ = usageOf(t, e, owner)
	q := storage.Quota{Secrets: 3, Bytes: use[1]}
	e.store.SetQuota(q)
	wantQuota(t, e.do("POST", "/v1/secrets/a/restore", owner, `{"version":1}`), storage.LimitBytes, use[1], use[1])
	wantQuota(t, e.do("POST", "/v1/restore", owner, `{"as_of":"`+before.Format(time.RFC3339Nano)+`"}`), storage.LimitBytes, use[1], use[1])
	if r := e.do("GET", "/secrets/b", owner, nil); r.status != 200 {
		t.Errorf("b after a refused point-in-time restore: %d %s", r.status, r.body)
	}
	if after, _ := usageOf(t, e, owner); after != use {
		t.Errorf("usage after refusals %v, want %v", after, use)
	}
	// Destroying frees room.
	if r := e.do("DELETE", "/v1/secrets/b?destroy=true", owner, nil); r.status != 200 {
		t.Fatalf("destroy: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/secrets", owner, `{"secrets":{"d":"4"}}`); r.status != 200 {
		t.Errorf("a write after destroying: %d %s", r.status, r.body)
	}

	m := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`nosana_secrets_quota_refused_writes_total{limit="secrets"} 2`,
		`nosana_secrets_quota_refused_writes_total{limit="bytes"} 2`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestQuotaOff: 0 is no limit, and whoami still shows the use.
func TestQuotaOff(t *testing.T) {
	e := quotaEnv(t, storage.Quota{})
	owner := e.login(authtest.NewWallet())
	body := `{"secrets":{`
	for i := range 50 {
		if i > 0 {
			body += ","
		}
		body += `"k` + strconv.Itoa(i) + `":"v"`
	}
	if r := e.do("POST", "/secrets", owner, body+`}}`); r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if use, quota := usageOf(t, e, owner); use[0] != 50 || quota != [2]int64{0, 0} {
		t.Errorf("whoami usage %v quota %v", use, quota)
	}
}
