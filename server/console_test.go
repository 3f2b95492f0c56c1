package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/server"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

func withConsole(o *server.Options) { o.Console = true }

// rawGet sends GET path with the given headers and no transparent gzip.
func rawGet(t *testing.T, url string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// TestWelcomeStaysJSONForAPIClients: GET / keeps its legacy answer for every
// client that does not prefer HTML, and sends a browser to the console.
func TestWelcomeStaysJSONForAPIClients(t *testing.T) {
	e := newEnv(t, withConsole)
	for _, accept := range []string{"", "*/*", "application/json", "application/json, text/html;q=0.5", "text/html;q=0.5, */*"} {
		res, body := rawGet(t, e.url+"/", map[string]string{"Accept": accept})
		if res.StatusCode != 200 || string(body) != `"Welcome to Nosana Secret Manager"` || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %q: %d %s %q", accept, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
	for _, accept := range []string{browserAccept, "text/html"} {
		res, _ := rawGet(t, e.url+"/", map[string]string{"Accept": accept})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
			t.Errorf("browser Accept %q: %d Location %q, want 303 to /ui/", accept, res.StatusCode, res.Header.Get("Location"))
		}
		if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept") {
			t.Errorf("GET / depends on Accept but Vary is %v", res.Header.Values("Vary"))
		}
	}
}

// TestConsoleOff: without the console, a browser gets the legacy JSON and
// /ui/ does not exist.
func TestConsoleOff(t *testing.T) {
	e := newEnv(t)
	res, body := rawGet(t, e.url+"/", map[string]string{"Accept": browserAccept})
	if res.StatusCode != 200 || string(body) != `"Welcome to Nosana Secret Manager"` {
		t.Errorf("GET / with the console off: %d %q", res.StatusCode, body)
	}
	for _, p := range []string{"/ui/", "/ui/assets/main.js", "/ui/config.json"} {
		if res, _ := rawGet(t, e.url+p, nil); res.StatusCode != 404 {
			t.Errorf("%s with the console off: %d, want 404", p, res.StatusCode)
		}
	}
}

// TestConsoleSecurityHeaders: every console file carries the strict CSP
// and no-referrer, and the page loads nothing from another origin.
func TestConsoleSecurityHeaders(t *testing.T) {
	e := newEnv(t, withConsole)
	res, page := rawGet(t, e.url+"/ui/", nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page) || strings.Contains(string(page), "style=") ||
		regexp.MustCompile(`<script>|<script [^>]*>[^<]`).Match(page) {
		t.Errorf("the page refers to another origin or has inline script or style:\n%s", page)
	}
	for _, p := range []string{"/ui/", "/ui/index.html", "/ui/assets/main.js", "/ui/assets/main.css", "/ui/icon.svg", "/ui/config.json", "/ui/missing"} {
		res, _ := rawGet(t, e.url+p, nil)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", p, csp)
		}
		if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Referrer-Policy %q, nosniff %q", p, res.Header.Get("Referrer-Policy"), res.Header.Get("X-Content-Type-Options"))
		}
	}
	res, body := rawGet(t, e.url+"/ui/config.json", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"uri":"`+testAudience.URI+`"`) || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("config.json: %d %s %q", res.StatusCode, res.Header.Get("Cache-Control"), body)
	}
	if res, _ := rawGet(t, e.url+"/ui", nil); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %q, want a redirect to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestConsoleFirstLoadBudget: the page and everything it loads weigh
// under 200 KB gzipped, and a repeat visit revalidates with ETags.
func TestConsoleFirstLoadBudget(t *testing.T) {
	e := newEnv(t, withConsole)
	gz := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	_, page := rawGet(t, e.url+"/ui/", nil)
	res, zpage := rawGet(t, e.url+"/ui/", gz)
	total := len(zpage)
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 3 {
		t.Fatalf("page refers to %d files; expected the script, the style and the icon", len(refs))
	}
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("/ui/ not gzipped")
	}
	seen := map[string]bool{}
	for _, m := range append(refs, []string{"", "config.json"}, []string{"", "index.html"}) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		res, body := rawGet(t, e.url+"/ui/"+m[1], gz)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", m[1], res.StatusCode)
		}
		if m[1] != "index.html" {
			total += len(body)
		}
		if etag := res.Header.Get("ETag"); etag != "" {
			again, _ := rawGet(t, e.url+"/ui/"+m[1], map[string]string{"If-None-Match": etag})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match: %d, want 304", m[1], again.StatusCode)
			}
		}
	}
	t.Logf("first load: %d bytes transferred", total)
	if total > 200_000 {
		t.Errorf("first load is %d bytes compressed, over the 200 KB budget", total)
	}
	// A client that does not take gzip gets the plain bytes.
	res, plain := rawGet(t, e.url+"/ui/assets/main.js", map[string]string{"Accept-Encoding": "identity"})
	if res.Header.Get("Content-Encoding") != "" || !strings.Contains(string(plain), "wallet-standard") {
		t.Errorf("identity encoding: %q, %d bytes", res.Header.Get("Content-Encoding"), len(plain))
	}
}
