package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// hostile are key names and values that would do harm if the console put
// them into HTML, a URL or a selector without care: markup, a script end,
// bidi overrides, control characters, and the names "." and "..", which a
// browser drops from a URL path (escaped as %2E too).
var hostile = []struct{ key, value string }{
	{"<img src=x onerror=alert(1)>", `<img src=x onerror=alert("value-1")>`},
	{"</script><script>alert(2)</script>", "</script><svg onload=alert(2)>"},
	{"\u202eevil\u202c.txt", "value \u202e3 \u2066isolate\u2069"},
	{"ctl\x01\x07\x1b[31m\x7f\tend", "v-ctl \x1b]0;title\x07\r\nline 2"},
	{".", "value of dot <b>.</b>"},
	{"..", "value of dotdot &amp; .."},
	{"...", "three dots"},
	{"%2F", "percent-two-F"},
	{"%", "100%"},
	{"a/b", "slash"},
	{"../x", "dotdot-slash"},
	{"?q=1#frag", "query and fragment"},
	{"spa ce+plus", "space"},
	{"日本/ключ", "unicode ✓"},
}

// TestHostileNamesInTheConsole stores hostile keys and values, then checks
// that the console shows each key cell's text as the raw key, creates no
// element from any of them, and that Reveal, History and Delete address
// exactly the key of their row: "." and ".." included.
func TestHostileNamesInTheConsole(t *testing.T) {
	srv := startServer(t, nil)
	w := newWallet("Test Wallet", false)
	p := newPage(t, srv, w, `window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));`)
	api := w.api(t, srv)
	secrets := map[string]any{}
	for _, h := range hostile {
		secrets[h.key] = h.value
	}
	api.set(secrets)
	signIn(t, p, "Test Wallet")
	p.run("listed", waitText("#count", fmt.Sprintf("1–%d of %d secrets", len(hostile), len(hostile))))

	const rowOf = `((k) => [...document.querySelectorAll('#secret-list tbody tr')].find((tr) => tr.dataset.key === k))`
	js := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	for _, h := range hostile {
		got := eval[string](p, `(() => { const tr = `+rowOf+`(`+js(h.key)+`); return tr ? tr.querySelector('th.key').textContent : '<no row>'; })()`)
		if got != h.key {
			t.Errorf("key cell of %q shows %q", h.key, got)
		}
	}
	if n := eval[int](p, `document.querySelectorAll('#secret-list img, #secret-list script, #secret-list svg, #secret-list b, #secret-list iframe').length`); n != 0 {
		t.Errorf("%d elements created from keys", n)
	}
	p.shot("hostile-list")

	// Reveal each: the value of that very key, as text.
	for _, h := range hostile {
		p.run("reveal "+h.key, evalAction(rowOf+`(`+js(h.key)+`).querySelector('button.reveal').click()`))
		p.run("revealed "+h.key, waitJS(`(() => { const tr = `+rowOf+`(`+js(h.key)+`); return !!(tr && tr.querySelector('pre.value')); })()`))
		got := eval[string](p, rowOf+`(`+js(h.key)+`).querySelector('pre.value').textContent`)
		if got != h.value {
			t.Errorf("revealing %q shows %q, want %q", h.key, got, h.value)
		}
	}
	if n := eval[int](p, `document.querySelectorAll('#secret-list img, #secret-list script, #secret-list svg, #secret-list b, #secret-list iframe').length`); n != 0 {
		t.Errorf("%d elements created from values", n)
	}
	if a := eval[[]string](p, `window.__alerts`); len(a) != 0 {
		t.Errorf("alert ran: %q", a)
	}
	p.shot("hostile-revealed")

	// A JSON value is shown as stored: big numbers exact, markup as text.
	api.set(map[string]any{"json.": json.RawMessage(`{"id":12345678901234567890,"h":"<img src=x onerror=alert(5)>&\\u003c"}`)})
	p.click("#reload")
	p.run("json. listed", waitJS(rowOf+`('json.') !== undefined`))
	p.run("reveal json.", evalAction(rowOf+`('json.').querySelector('button.reveal').click()`))
	p.run("revealed json.", waitJS(`!!`+rowOf+`('json.').querySelector('pre.value')`))
	if got := eval[string](p, rowOf+`('json.').querySelector('pre.value').textContent`); got != `{"id":12345678901234567890,"h":"<img src=x onerror=alert(5)>&\\u003c"}` {
		t.Errorf("JSON value shown as %s", got)
	}
	if n := eval[int](p, `document.querySelectorAll('#secret-list img').length + window.__alerts.length`); n != 0 {
		t.Errorf("%d elements or alerts from a JSON value", n)
	}

	// History of "." is the history of ".", not of the namespace.
	p.run("history of .", evalAction(rowOf+`('.').querySelector('button.history').click()`))
	p.run("versions of .", visible(`#versions tr[data-version="1"]`))
	p.run("close history", press("Escape", "Escape", 27))
	p.run("history closed", notPresent("dialog"))

	// Delete "." through the console: only "." goes.
	p.run("delete .", evalAction(rowOf+`('.').querySelector('button.delete').click()`))
	p.click("#confirm-delete")
	p.run("deleted .", waitText("#status", "Deleted ."))
	if st, _ := api.get("."); st != 404 {
		t.Errorf("after deleting . the server answers %d for it", st)
	}
	for _, k := range []string{"..", "...", "%2F"} {
		if st, body := api.get(k); st != 200 || body != js(secrets[k].(string)) {
			t.Errorf("after deleting . the server has %d %s for %q", st, body, k)
		}
	}
}

// waitJS waits until the expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingMutation())(ctx, t)
		return chromedp.Void{}, err
	}
}
