package browser_test

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
)

// setTextarea replaces a textarea's text as typing would.
func setTextarea(p *page, sel, text string) {
	p.t.Helper()
	b, _ := json.Marshal(text)
	p.run("type into "+sel, evalAction(`(() => { const t = document.querySelector('`+sel+`'); t.value = `+string(b)+`; t.dispatchEvent(new Event('input')); })()`))
}

// TestJobDefinitionsThroughTheConsole: write a definition the node would
// refuse and see the validator's place and reason inline; fix and save it,
// copy the placeholder; a node fetches it (and a stranger is refused)
// through the real API, and both fetches show on the definition's page.
func TestJobDefinitionsThroughTheConsole(t *testing.T) {
	ch := jobstest.NewChain(t)
	srv := startServer(t, ch.Env())
	w := newWallet("Test Wallet", true)
	w.api(t, srv).set(map[string]any{"API_TOKEN": "tok-123"})

	p := newPage(t, srv, w, "")
	signIn(t, p, "Test Wallet")
	p.click(`#nav a[href="#/jobdefs"]`)
	p.run("definitions view", visible("#no-definitions"))
	p.click("#new-definition")
	p.typeInto("#definition-name", "build")
	setTextarea(p, "#definition-text", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","env":{"API_TOKEN":"%%secrets.API_TOKEN%%","N":1}}}]}`)
	p.expect("status of 400 (Bad Request) (" + srv.URL + "/v1/job-definitions/build)")
	p.click("#save-definition")
	p.run("refusal shown", visible("#definition-problem"))
	if path := p.text("#problem-path"); path != "$input.ops[0].args.env.N" {
		t.Errorf("the refusal points at %q", path)
	}
	if reason := p.text("#problem-reason"); !strings.Contains(reason, "want string") {
		t.Errorf("the refusal says %q", reason)
	}
	p.shot("jobdefs-invalid")

	setTextarea(p, "#definition-text", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","env":{"API_TOKEN":"%%secrets.API_TOKEN%%"}}}]}`)
	p.click("#save-definition")
	p.run("placeholder shown", visible("#placeholder"))
	var placeholder map[string]any
	if err := json.Unmarshal([]byte(p.text("#placeholder")), &placeholder); err != nil {
		t.Fatalf("placeholder %q: %v", p.text("#placeholder"), err)
	}
	p.click("#copy-placeholder")
	if got := eval[string](p, "navigator.clipboard.readText()"); !strings.Contains(got, "/v1/jobs/%%global.job%%/job-definition?name=build") {
		t.Errorf("clipboard holds %q", got)
	}
	p.run("no fetches yet", visible("#no-fetches"))

	// A node runs a job whose on-chain document is the placeholder.
	doc, _ := json.Marshal(placeholder)
	node, stranger := newWallet("node", false), newWallet("stranger", false)
	job := ch.PutRunning(ch.Gateway.Add(doc), w.Addr, node.Addr, 300)
	ep := placeholder["logistics"].(map[string]any)["send"].(map[string]any)["args"].(map[string]any)["endpoint"].(string)
	fetch := func(k ed25519.PrivateKey) (int, string) {
		req, _ := http.NewRequest("GET", strings.Replace(ep, "%%global.job%%", job.String(), 1), nil)
		req.Header.Set("Authorization", job.String()+":"+base58.Encode(ed25519.Sign(k, []byte(job.String())))+":"+strconv.FormatInt(time.Now().UnixMilli(), 10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := fetch(node.Key); st != 200 || !strings.Contains(body, "tok-123") {
		t.Fatalf("node fetch: %d %s", st, body)
	}
	if st, _ := fetch(stranger.Key); st != 403 {
		t.Fatalf("stranger fetch: %d", st)
	}

	// The definition's page lists both, once the events are stored.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.click("#back-definitions")
		p.run("list", visible("#definitions"))
		p.click("#definitions button.link")
		p.run("definition", visible("#placeholder"))
		p.run("fetches loaded", evalAction(`new Promise((r) => { const f = () => document.querySelector('#fetches, #no-fetches') ? r() : setTimeout(f, 50); f(); })`))
		if eval[float64](p, `document.querySelectorAll('#fetches tbody tr').length`) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	rows := p.text("#fetches")
	if !strings.Contains(rows, "answered") || !strings.Contains(rows, "refused (403)") || !strings.Contains(rows, short(node.Addr)) || !strings.Contains(rows, "API_TOKEN") {
		t.Errorf("fetches shown:\n%s", rows)
	}
	if strings.Contains(p.bodyText(), "tok-123") {
		t.Error("the console shows a secret value on the definitions page")
	}
	p.shot("jobdefs-fetches")
}
