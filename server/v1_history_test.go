package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/server"
)

func wantCode(t *testing.T, r resp, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	if m["code"] != code {
		t.Errorf("code %v, want %s (body %s)", m["code"], code, r.body)
	}
	return m
}

func num(t *testing.T, r resp, field string) int64 {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	f, ok := r.json(t)[field].(float64)
	if !ok {
		t.Fatalf("no %s in %s", field, r.body)
	}
	return int64(f)
}

func TestV1Versions(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())

	if v := num(t, e.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":"one"}`), "version"); v != 1 {
		t.Fatalf("first version %d", v)
	}
	// A legacy write is a new version too.
	if r := e.do("POST", "/secrets", tok, `{"secrets":{"pass":"two"},"prefix":"db/"}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	r := e.do("GET", "/v1/secrets/db%2Fpass", tok, nil)
	var got struct {
		Key     string
		Value   json.RawMessage
		Version int64
	}
	json.Unmarshal(r.body, &got)
	if got.Key != "db/pass" || string(got.Value) != `"two"` || got.Version != 2 {
		t.Fatalf("current: %s", r.body)
	}
	if r := e.do("GET", "/v1/secrets/db%2Fpass?version=1", tok, nil); !strings.Contains(string(r.body), `"value":"one"`) {
		t.Errorf("version 1: %s", r.body)
	}
	wantCode(t, e.do("GET", "/v1/secrets/db%2Fpass?version=5", tok, nil), 404, "version_not_found")
	wantCode(t, e.do("GET", "/v1/secrets/never", tok, nil), 404, "secret_not_found")

	// Check-and-set: a stale version is a conflict that names the current.
	m := wantCode(t, e.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":"x","cas":1}`), 409, "version_conflict")
	if m["current_version"] != 2.0 || m["type"] != "ConflictError" {
		t.Errorf("conflict body %v", m)
	}
	wantCode(t, e.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":"x","cas":0}`), 409, "version_conflict")
	if v := num(t, e.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":{"three":3},"cas":2}`), "version"); v != 3 {
		t.Errorf("cas write version %d", v)
	}
	wantError(t, e.do("PUT", "/v1/secrets/k", tok, `{"cas":0}`), 400, "ValidationError", "value is required")
	wantError(t, e.do("PUT", "/v1/secrets/k", tok, `{"value":1,"cas":-2}`), 400, "ValidationError", "cas")

	// A legacy delete is a tombstone: legacy GET is 404 as before, v1 says
	// it was deleted, and the history stays.
	if r := e.do("DELETE", "/secrets", tok, `{"key":["db/pass","db/pass","absent"]}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	wantError(t, e.do("GET", "/secrets/db%2Fpass", tok, nil), 404, "NotFoundError", "not found")
	wantCode(t, e.do("GET", "/v1/secrets/db%2Fpass", tok, nil), 404, "secret_deleted")
	var vs struct {
		Items []struct {
			Version   int64
			DeletedAt *time.Time `json:"deleted_at"`
			By        struct{ Address string }
		}
	}
	json.Unmarshal(e.do("GET", "/v1/secrets/db%2Fpass/versions", tok, nil).body, &vs)
	if len(vs.Items) != 4 || vs.Items[0].Version != 4 || vs.Items[0].DeletedAt == nil || vs.Items[1].DeletedAt != nil ||
		vs.Items[0].By.Address == "" {
		t.Fatalf("versions %+v", vs)
	}

	// Restore undeletes with the old value as a new version.
	if v := num(t, e.do("POST", "/v1/secrets/db%2Fpass/restore", tok, `{"version":1}`), "version"); v != 5 {
		t.Errorf("restored as version %d", v)
	}
	if r := e.do("GET", "/secrets/db%2Fpass", tok, nil); string(r.body) != `"one"` {
		t.Errorf("legacy GET after restore: %d %s", r.status, r.body)
	}
	wantError(t, e.do("POST", "/v1/secrets/db%2Fpass/restore", tok, `{"version":4}`), 400, "ValidationError", "deletion")

	// Soft delete through v1, then destroy.
	if v := num(t, e.do("DELETE", "/v1/secrets/db%2Fpass", tok, nil), "version"); v != 6 {
		t.Errorf("tombstone version %d", v)
	}
	wantCode(t, e.do("DELETE", "/v1/secrets/db%2Fpass", tok, nil), 404, "secret_deleted")
	if r := e.do("DELETE", "/v1/secrets/db%2Fpass?destroy=true", tok, nil); r.status != 200 || r.json(t)["destroyed"] != true {
		t.Fatalf("destroy: %d %s", r.status, r.body)
	}
	wantCode(t, e.do("GET", "/v1/secrets/db%2Fpass/versions", tok, nil), 404, "secret_not_found")
	if v := num(t, e.do("PUT", "/v1/secrets/db%2Fpass", tok, `{"value":1,"cas":0}`), "version"); v != 1 {
		t.Errorf("after destroy the numbering starts again: %d", v)
	}
}

func TestV1ListPages(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	var body strings.Builder
	body.WriteString(`{"secrets":{`)
	for i := range 25 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `"k%02d":"%s"`, i, strings.Repeat("v", i))
	}
	body.WriteString(`},"prefix":"p/"}`)
	e.do("POST", "/secrets", tok, body.String())
	e.do("POST", "/secrets", tok, `{"secrets":{"other":1}}`)

	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := e.do("GET", "/v1/secrets?prefix=p%2F&limit=10"+cursor, tok, nil)
		var page struct {
			Items []struct {
				Key     string
				Version int64
				Size    int
			}
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), `"vvv`) {
			t.Fatal("the listing carries values")
		}
		for _, it := range page.Items {
			keys = append(keys, it.Key)
			if want := len(`""`) + len(keys) - 1; it.Size != want || it.Version != 1 {
				t.Errorf("%s: size %d version %d, want size %d", it.Key, it.Size, it.Version, want)
			}
		}
		if page.NextCursor == nil {
			if pages != 2 {
				t.Errorf("%d pages of 10 for 25 keys", pages+1)
			}
			break
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	if len(keys) != 25 || keys[0] != "p/k00" || keys[24] != "p/k24" {
		t.Errorf("keys %v", keys)
	}
	wantError(t, e.do("GET", "/v1/secrets?cursor=!!!", tok, nil), 400, "ValidationError", "")
}

func TestV1RestoreAsOf(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	e.do("POST", "/secrets", tok, `{"secrets":{"a":1,"b":2,"keep/x":"x"}}`)
	r := e.do("GET", "/v1/secrets/a", tok, nil)
	var a struct {
		UpdatedAt time.Time `json:"updated_at"`
	}
	json.Unmarshal(r.body, &a)
	asOf := a.UpdatedAt
	for !time.Now().Truncate(time.Millisecond).After(asOf) {
		time.Sleep(100 * time.Microsecond) // the next writes must be strictly later than asOf
	}
	e.do("POST", "/secrets", tok, `{"secrets":{"a":10,"c":3}}`)
	e.do("DELETE", "/secrets", tok, `{"key":"b"}`)

	// The listing as it was then.
	r = e.do("GET", "/v1/secrets?as_of="+asOf.Format(time.RFC3339Nano), tok, nil)
	if !strings.Contains(string(r.body), `"key":"b"`) || strings.Contains(string(r.body), `"key":"c"`) {
		t.Errorf("as_of listing: %s", r.body)
	}

	r = e.do("POST", "/v1/restore", tok, map[string]any{"as_of": asOf})
	var res struct {
		Changes []struct {
			Key, Action string
			Version     int64
		}
	}
	json.Unmarshal(r.body, &res)
	got := fmt.Sprint(res.Changes)
	if want := "[{a restored 3} {b restored 3} {c deleted 2}]"; got != want {
		t.Errorf("changes %s, want %s (%s)", got, want, r.body)
	}
	r = e.do("GET", "/secrets", tok, nil)
	if string(r.body) != `{"a":1,"b":2,"keep/x":"x"}` {
		t.Errorf("after restore: %s", r.body)
	}
}

// TestV1JobTokensAndAudit: a node reads a project's granted secret; the
// project's log has the read with the node's address, job and IP, the
// refusal of an ungranted key, and no value anywhere; the node sees no
// history.
func TestV1JobTokensAndAudit(t *testing.T) {
	e := newEnv(t)
	project, node := authtest.NewWallet(), authtest.NewWallet()
	ptok := e.login(project)
	e.do("POST", "/secrets", ptok, `{"secrets":{"API_KEY":"hunter2-value","OTHER":"s3cret-other"}}`)
	const job = "GNUyAWxo7NCX8KtusRkNVbnPBUXKBvgaMR4kmcNAT3tZ"
	raw, _, err := e.tokens.Issue(auth.Claims{Address: node.Addr, UserAddress: project.Addr, Secrets: []string{"API_KEY"}, Job: job}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ntok := "Bearer " + raw

	if r := e.do("GET", "/v1/secrets/API_KEY", ntok, nil); !strings.Contains(string(r.body), `"value":"hunter2-value"`) {
		t.Fatalf("node's v1 read: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/secrets/API_KEY", ntok, nil); string(r.body) != `"hunter2-value"` {
		t.Fatalf("node's legacy read: %d %s", r.status, r.body)
	}
	wantError(t, e.do("GET", "/v1/secrets/OTHER", ntok, nil), 400, "ValidationError", "not in job")
	wantCode(t, e.do("GET", "/v1/secrets/API_KEY?version=1", ntok, nil), 403, "owner_only")
	wantCode(t, e.do("GET", "/v1/secrets/API_KEY/versions", ntok, nil), 403, "owner_only")
	wantCode(t, e.do("GET", "/v1/audit", ntok, nil), 403, "owner_only")
	if r := e.do("GET", "/v1/secrets", ntok, nil); r.status != 200 || strings.Contains(string(r.body), "OTHER") {
		t.Errorf("node's listing: %d %s", r.status, r.body)
	}

	r := e.do("GET", "/v1/audit?limit=1000", ptok, nil)
	if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "s3cret") {
		t.Fatalf("a value in the audit log: %s", r.body)
	}
	var page struct{ Items []audit.Event }
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	log := page.Items
	for i, j := 0, len(log)-1; i < j; i, j = i+1, j-1 {
		log[i], log[j] = log[j], log[i]
	}
	if _, err := audit.Verify(log); err != nil {
		t.Fatalf("the project's log does not verify: %v", err)
	}
	var actions []string
	for _, ev := range log {
		for range max(ev.Count, 1) { // a burst of identical reads is one event with a count
			actions = append(actions, string(ev.Action)+":"+strings.Join(ev.Keys, ","))
		}
		if ev.Action == audit.Read && (ev.Actor != node.Addr || ev.Job != job || ev.IP != "127.0.0.1") {
			t.Errorf("the node's read: %+v", ev)
		}
		if ev.Action == audit.Denied && (ev.Actor != node.Addr || ev.Status != 400) {
			t.Errorf("the refusal: %+v", ev)
		}
	}
	// Writes are stored with the write, the others in batches: compare
	// what happened, not in which order.
	slices.Sort(actions)
	if got, want := strings.Join(actions, " "), "denied:OTHER list:API_KEY login: read:API_KEY read:API_KEY write:API_KEY,OTHER"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	if r := e.do("GET", "/v1/audit?key=OTHER", ptok, nil); strings.Count(string(r.body), `"seq"`) != 2 {
		t.Errorf("events of OTHER: %s", r.body)
	}
}

// TestV1WithoutHistory: with HISTORY=false (History.Off) the legacy API
// works and the routes that need history answer 501.
func TestV1WithoutHistory(t *testing.T) {
	e2 := newEnv(t, func(o *server.Options) { o.History.Off = true })
	tok := e2.login(authtest.NewWallet())
	// Listing current keys needs no history; listing the past does.
	if r := e2.do("GET", "/v1/secrets", tok, nil); r.status != 200 {
		t.Errorf("listing without history: %d %s", r.status, r.body)
	}
	wantCode(t, e2.do("GET", "/v1/secrets?as_of=2026-01-01T00:00:00Z", tok, nil), 501, "history_unsupported")
	wantCode(t, e2.do("PUT", "/v1/secrets/k", tok, `{"value":1}`), 501, "history_unsupported")
	if r := e2.do("POST", "/secrets", tok, `{"secrets":{"k":1}}`); r.status != 200 {
		t.Errorf("legacy write without history: %d %s", r.status, r.body)
	}
}

// TestAuditBursts: identical reads inside one batch are one event with a
// count; a read that differs (another key) is its own event.
func TestAuditBursts(t *testing.T) {
	e := newEnv(t)
	tok := e.login(authtest.NewWallet())
	e.do("POST", "/secrets", tok, `{"secrets":{"a":1,"b":2}}`)
	for range 20 {
		e.do("GET", "/secrets/a", tok, nil)
	}
	e.do("GET", "/secrets/b", tok, nil)
	var page struct{ Items []audit.Event }
	json.Unmarshal(e.do("GET", "/v1/audit?limit=1000", tok, nil).body, &page)
	reads := map[string][]uint32{}
	for _, ev := range page.Items {
		if ev.Action == audit.Read {
			reads[ev.Keys[0]] = append(reads[ev.Keys[0]], max(ev.Count, 1))
		}
	}
	var total uint32
	for _, n := range reads["a"] {
		total += n
	}
	// 20 reads in a few milliseconds: one batch, or two when a flush fell
	// between them.
	if total != 20 || len(reads["a"]) > 2 || len(reads["b"]) != 1 {
		t.Errorf("read events %v", reads)
	}
}

// TestAuditCoalesce: 1,000 reads of one key by one reader, spread over
// 40 s, take at most 60 KB of audit log (issue 19) and still count 1,000;
// a read of another key and a write are events of their own at once.
func TestAuditCoalesce(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.History.AuditCoalesce = 10 * time.Second })
	tok := e.login(authtest.NewWallet())
	e.do("POST", "/secrets", tok, `{"secrets":{"a":1,"b":2}}`)
	start := e.now
	for i := range 1000 {
		e.now = start.Add(time.Duration(i) * 40 * time.Millisecond)
		if r := e.do("GET", "/secrets/a", tok, nil); r.status != 200 {
			t.Fatalf("read %d: %d %s", i, r.status, r.body)
		}
		if i == 500 {
			e.do("GET", "/secrets/b", tok, nil)
		}
	}
	e.now = start.Add(41 * time.Second)
	var page struct{ Items []audit.Event }
	json.Unmarshal(e.do("GET", "/v1/audit?limit=1000", tok, nil).body, &page)
	var reads, bytes int64
	var events, others int
	for _, ev := range page.Items {
		if ev.Action != audit.Read {
			continue
		}
		if ev.Keys[0] != "a" {
			others++
			continue
		}
		events++
		reads += int64(max(ev.Count, 1))
		bytes += audit.StoredSize(ev)
		if ev.Count > 1 && !ev.Last.After(ev.Time) {
			t.Errorf("a coalesced event without its last time: %+v", ev)
		}
	}
	t.Logf("1,000 reads over 40 s: %d events, %d bytes", events, bytes)
	if reads != 1000 || others != 1 {
		t.Errorf("counted %d reads of a and %d of b, want 1000 and 1", reads, others)
	}
	if bytes > 60_000 || events > 12 {
		t.Errorf("1,000 reads over 40 s took %d events, %d bytes of audit log", events, bytes)
	}
}
