package browser_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
)

// short is how the console shows an address.
func short(a string) string { return a[:4] + "…" + a[len(a)-4:] }

// TestAuditThroughTheConsole: a node reads a key of a job through the real
// API; the owner's audit view shows that read with node, job and time, the
// filters narrow the log, and "Verify" checks the chain in the browser and
// shows the head hash the server holds.
func TestAuditThroughTheConsole(t *testing.T) {
	ch := jobstest.NewChain(t)
	env := ch.Env()
	env["JOB_RECHECK"] = "0"
	srv := startServer(t, env)
	w := newWallet("Test Wallet", true)
	owner := w.api(t, srv)
	owner.set(map[string]any{"pipeline/ssh-key": "ssh", "private": "no"})

	// The node's job read, as a Nosana node does it.
	node := newWallet("node", false)
	doc := ch.Gateway.AddJSON(t, map[string]any{"type": "Github", "secrets": []string{"pipeline/ssh-key"}})
	job := ch.PutRunning(doc, w.Addr, node.Addr, 300)
	ts := fmt.Sprint(time.Now().Unix())
	body, _ := json.Marshal(map[string]string{
		"address": node.Addr, "timestamp": ts, "job": job.String(),
		"signature": base58.Encode(ed25519.Sign(node.Key, []byte("nosana_secret_"+ts))),
	})
	res, err := http.Post(srv.URL+"/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 {
		t.Fatalf("node login: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	nodeAPI := &apiClient{t: t, url: srv.URL, token: tok.Token}
	if st, v := nodeAPI.get("pipeline/ssh-key"); st != 200 || v != `"ssh"` {
		t.Fatalf("node read %d %s", st, v)
	}

	p := newPage(t, srv, w, "")
	signIn(t, p, "Test Wallet")
	p.click(`#nav a[href="#/audit"]`)
	p.run("audit view", visible(`#events tr[data-action="read"]`))

	// The node's read: its node, its job, its time.
	var read string
	for _, sel := range eval[[]string](p, `[...document.querySelectorAll('#events tr[data-action="read"]')].map((r) => '#events tr[data-seq="' + r.dataset.seq + '"]')`) {
		if strings.Contains(p.text(sel+" .by"), "node") {
			read = sel
		}
	}
	if read == "" {
		t.Fatalf("no read by a node in the audit view:\n%s", p.text("#events"))
	}
	if by, want := p.text(read+" .by"), "node "+short(node.Addr)+" · job "+short(job.String()); by != want {
		t.Errorf("the node's read shows %q, want %q", by, want)
	}
	if keys := p.text(read + " .keys"); keys != "pipeline/ssh-key" {
		t.Errorf("the node's read names %q", keys)
	}
	if dt := eval[string](p, "document.querySelector('"+read+" time').dateTime"); dt == "" {
		t.Error("the node's read shows no time")
	} else if at, err := time.Parse(time.RFC3339, dt); err != nil || time.Since(at) > time.Minute || time.Until(at) > time.Minute {
		t.Errorf("the node's read is dated %s", dt)
	}
	p.shot("audit")

	// Filters: by action in the page, by key on the server.
	p.run("action write", evalAction(`(() => { const s = document.getElementById('audit-action'); s.value = 'write'; s.dispatchEvent(new Event('change')); })()`))
	p.run("writes only", notPresent(`#events tr[data-action="read"]`))
	if n := eval[float64](p, `document.querySelectorAll('#events tr[data-action="write"]').length`); n != 1 {
		t.Errorf("%v write events shown, want 1", n)
	}
	p.run("any action", evalAction(`(() => { const s = document.getElementById('audit-action'); s.value = ''; s.dispatchEvent(new Event('change')); })()`))
	p.typeInto("#audit-key", "private")
	p.click("#audit-apply")
	p.run("key filter", notPresent(read))
	p.run("the write listed", visible(`#events tr[data-action="write"]`))
	for _, keys := range eval[[]string](p, `[...document.querySelectorAll('#events tbody .keys')].map((c) => c.textContent)`) {
		if !strings.Contains(keys, "private") {
			t.Errorf("the key filter private shows an event of %q", keys)
		}
	}
	p.run("time filter", evalAction(`document.getElementById('audit-key').value = ''; document.getElementById('audit-since').value = '2999-01-01T00:00:00'`))
	p.click("#audit-apply")
	p.run("nothing after 2999", waitText("#audit-list", "No event matches."))

	// Verify: the chain checks out and the head is the server's newest event.
	p.click("#verify")
	p.run("verified", waitText("#chain-result", "Verified"))
	var page struct {
		Items []struct {
			Seq  uint64
			Hash string
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+owner.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&page); err != nil || len(page.Items) != 1 {
		t.Fatalf("GET /v1/audit: %v %+v", err, page)
	}
	if got := p.text("#head-hash"); got != page.Items[0].Hash {
		t.Errorf("head hash shown %q, server's newest event %q", got, page.Items[0].Hash)
	}
	if got := p.text("#head-seq"); got != fmt.Sprint(page.Items[0].Seq) {
		t.Errorf("head seq shown %q, want %d", got, page.Items[0].Seq)
	}
	// The signature checked is by the key the server publishes.
	var keys struct{ Keys []struct{ ID string } }
	kr, err := http.Get(srv.URL + "/v1/audit/key")
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Body.Close()
	if err := json.NewDecoder(kr.Body).Decode(&keys); err != nil || len(keys.Keys) == 0 {
		t.Fatalf("GET /v1/audit/key: %v %+v", err, keys)
	}
	if got := p.text("#sig-key"); got != keys.Keys[0].ID {
		t.Errorf("signing key shown %q, the server's is %q", got, keys.Keys[0].ID)
	}
	p.shot("audit-verified")

	// A tampered event does not verify: the page's check is not a rubber stamp.
	p.addInit(tamperAudit)
	p.open("/ui/?tampered#/audit") // a new document, so the script runs
	p.run("signed in", visible("#verify"))
	p.click("#verify")
	p.run("tamper found", waitText("#chain-result", "hash does not match the event: it was altered"))
	p.shot("audit-tampered")

	// A store that drops the signatures: the chain holds, nothing vouches for it.
	p.addInit(unsignAudit)
	p.open("/ui/?unsigned#/audit")
	p.run("signed in again", visible("#verify"))
	p.click("#verify")
	p.run("unsigned found", waitText("#chain-result", "no event carries a signature by a key this server publishes"))
}

// rewriteAudit is a page script that, on a page whose URL's query has
// marker, runs edit (a JavaScript statement on e) on every event of every
// answer of GET /v1/audit.
func rewriteAudit(marker, edit string) string {
	return `(() => {
  if (!location.search.includes('` + marker + `')) return;
  const real = window.fetch;
  window.fetch = async (input, init) => {
    const res = await real(input, init);
    if (!String(input).includes('/v1/audit?')) return res;
    const page = await res.json();
    for (const e of page.items) ` + edit + `
    return new Response(JSON.stringify(page), { status: res.status, headers: res.headers });
  };
})()`
}

var (
	// unsignAudit removes the signatures, as a store rewritten by someone
	// without the master key would have to.
	unsignAudit = rewriteAudit("unsigned", "{ delete e.sig; delete e.sig_key; }")
	// tamperAudit changes one key name, as a server rewriting its log would.
	tamperAudit = rewriteAudit("tampered", "if (e.keys.includes('private')) e.keys = ['public'];")
)
