// Package browser drives the web console (/ui/) in Debian's headless
// Chromium against the real nosana-secrets binary. A test-only Wallet
// Standard wallet (testdata/wallet.js, injected through CDP) signs with a
// known keypair.
package browser_test

import (
	"context"
	"crypto/ed25519"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

//go:embed testdata/wallet.js
var walletJS string

// chromium finds the browser: $NOSANA_CHROMIUM, else chromium on PATH.
// Without one the test skips, or fails under CI.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NOSANA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci.On() {
		t.Fatal("no chromium on PATH: the browser tests need Debian's chromium (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium); set CI to make this a failure")
	return ""
}

// screenshotDir is $NOSANA_SCREENSHOTS, or a temporary folder made once.
var screenshotDir = sync.OnceValue(func() string {
	if d := os.Getenv("NOSANA_SCREENSHOTS"); d != "" {
		_ = os.MkdirAll(d, 0o755)
		return d
	}
	d, _ := os.MkdirTemp("", "nosana-ui-screenshots-")
	return d
})

// testWallet is a keypair and how the injected wallet behaves.
type testWallet struct {
	authtest.Wallet
	name   string
	signIn bool // offer solana:signIn (else only signMessage)
	refuse bool // reject every request, as a user clicking "Cancel"
}

func newWallet(name string, signIn bool) *testWallet {
	return &testWallet{Wallet: authtest.NewWallet(), name: name, signIn: signIn}
}

func (w *testWallet) script() string {
	pub := w.Key.Public().(ed25519.PublicKey)
	b64 := base64.RawURLEncoding.EncodeToString
	cfg, _ := json.Marshal(map[string]any{
		"name": w.name, "address": w.Addr, "publicKey": []int(bytesToInts(pub)),
		"jwk":    map[string]any{"kty": "OKP", "crv": "Ed25519", "d": b64(w.Key.Seed()), "x": b64(pub), "ext": false},
		"signIn": w.signIn, "refuse": w.refuse,
	})
	return strings.Replace(walletJS, "__CONFIG__", string(cfg), 1)
}

func bytesToInts(b []byte) []int {
	out := make([]int, len(b))
	for i, x := range b {
		out[i] = int(x)
	}
	return out
}

// page is one browser tab on the console of srv. Console errors, CSP
// violations and requests to another origin are recorded and fail the
// test at its end, unless a message matches one of allow.
type page struct {
	t     *testing.T
	ctx   context.Context
	srv   *testserver.Server
	mu    sync.Mutex
	bad   []string
	allow []string
	seq   int
}

// reportCSP runs in the page before its scripts: a CSP violation becomes a
// console error, which fails the test.
const reportCSP = `document.addEventListener('securitypolicyviolation', (e) =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));`

// newPage starts Chromium (fresh profile, a HOME of the test's) with one tab, with w's wallet
// injected when w is not nil, and an init script when init is not empty.
func newPage(t *testing.T, srv *testserver.Server, w *testWallet, init string) *page {
	t.Helper()
	exe := chromium(t)
	home := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe)}
	for _, flag := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync", "disable-default-apps",
		"disable-extensions", "hide-scrollbars", "mute-audio"} {
		opts = append(opts, chromedp.Flag(flag, true))
	}
	opts = append(opts, chromedp.WindowSize(1280, 800), chromedp.UserDataDir(t.TempDir()),
		// Chromium writes crash reports and a dconf cache under HOME.
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	p := &page{t: t, ctx: ctx, srv: srv}
	t.Cleanup(func() {
		p.checkClean()
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser: no timeout on it (chromedp's rule).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.problem("console %s: %s (%s)", m.Type, m.Text, m.URL)
			}
		}
	}()
	origin := srv.URL
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			u := ev.Request.URL
			if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
				p.problem("request left the origin: %s", u)
			}
		}
	}()
	u, _ := url.Parse(srv.URL)
	steps := []func() error{
		func() error { _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); return err },
		func() error {
			_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: reportCSP})
			return err
		},
	}
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		steps = append(steps, func() error {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: perm}, Setting: browser.PermissionSettingGranted, Origin: u.Scheme + "://" + u.Host,
			})
			return err
		})
	}
	for _, src := range []string{init, scriptOf(w)} {
		if src == "" {
			continue
		}
		steps = append(steps, func() error {
			_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src})
			return err
		})
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("set up the tab: %v", err)
		}
	}
	return p
}

// addInit runs src in the page before its own scripts, from the next load on.
func (p *page) addInit(src string) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		p.t.Fatal(err)
	}
}

func scriptOf(w *testWallet) string {
	if w == nil {
		return ""
	}
	return w.script()
}

func (p *page) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.allow {
		if strings.Contains(msg, a) {
			return
		}
	}
	p.bad = append(p.bad, msg)
}

// expect lets console messages containing s pass (an error the test causes).
func (p *page) expect(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allow = append(p.allow, s)
}

func (p *page) checkClean() {
	p.t.Helper()
	// A round trip through the tab, so events sent before it are in.
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool]("true"))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.bad {
		p.t.Errorf("browser: %s", b)
	}
}

// run runs steps with a time limit, failing the test with what the page
// showed when one fails.
func (p *page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	p.runFor(what, 20*time.Second, steps...)
}

// runFor is run with another time limit.
func (p *page) runFor(what string, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.bodyText())
	}
}

func (p *page) bodyText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	return s
}

// eval evaluates a JavaScript expression (promises awaited) into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v\npage text:\n%s", expr, err, p.bodyText())
	}
	return v
}

func (p *page) text(sel string) string {
	p.t.Helper()
	b, _ := json.Marshal(sel)
	return eval[string](p, "(document.querySelector("+string(b)+") || {}).textContent || ''")
}

// open loads the console and waits until it has booted.
func (p *page) open(path string) {
	p.t.Helper()
	p.run("open "+path, chromedp.Navigate(p.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("html[data-ready]")))
}

// shot saves a screenshot of the whole page at desktop width and at 375 px.
func (p *page) shot(name string) { p.t.Helper(); p.screenshot(name, chromedp.FullScreenshot(100)) }

// shotTop is shot of what fits in the window, for long pages.
func (p *page) shotTop(name string) { p.t.Helper(); p.screenshot(name, chromedp.CaptureScreenshot()) }

// shotDark is shot with the system's dark colour scheme.
func (p *page) shotDark(name string) {
	p.t.Helper()
	scheme := func(v string) {
		if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
		}); err != nil {
			p.t.Fatal(err)
		}
	}
	scheme("dark")
	defer scheme("")
	p.shot(name + "-dark")
}

func (p *page) screenshot(name string, capture chromedp.Action[[]byte]) {
	p.t.Helper()
	p.seq++
	for _, v := range []struct {
		tag  string
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{
		{"375", 375, 812, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
		{"desktop", 1280, 800, nil},
	} {
		ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h, v.opts...)); err != nil {
			cancel()
			p.t.Fatalf("viewport: %v", err)
		}
		png, err := chromedp.Run(ctx, capture)
		cancel()
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(screenshotDir(), fmt.Sprintf("%s-%02d-%s-%s.png", strings.ReplaceAll(p.t.Name(), "/", "-"), p.seq, name, v.tag))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// click clicks the first element matching the CSS selector.
func (p *page) click(sel string) {
	p.t.Helper()
	p.run("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// typeInto replaces the value of an input or textarea by typing s.
func (p *page) typeInto(sel, s string) {
	p.t.Helper()
	b, _ := json.Marshal(sel)
	steps := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(sel)),
		evalAction("(e => { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); })(document.querySelector(" + string(b) + "))")}
	if s != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(sel), s))
	}
	p.run("type into "+sel, steps...)
}

// startServer runs serve on a fresh sqlite database with a known JWT key.
func startServer(t *testing.T, env map[string]string) *testserver.Server {
	t.Helper()
	e := map[string]string{
		"STORAGE_CONNECTION": "sqlite://" + filepath.Join(t.TempDir(), "ui.sqlite"),
		"JWT_SECRET":         jwtSecret,
	}
	for k, v := range env {
		e[k] = v
	}
	return testserver.Start(t, e)
}

const jwtSecret = "browser-test-signing-key-0123456789abcdef"

// apiClient talks to the server directly, to check what the console did.
type apiClient struct {
	t     *testing.T
	url   string
	token string
}

func (w *testWallet) api(t *testing.T, srv *testserver.Server) *apiClient {
	t.Helper()
	ts := fmt.Sprint(time.Now().Unix())
	body, _ := json.Marshal(map[string]string{
		"address": w.Addr, "timestamp": ts,
		"signature": base58.Encode(ed25519.Sign(w.Key, []byte("nosana_secret_"+ts))),
	})
	res, err := http.Post(srv.URL+"/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return &apiClient{t: t, url: srv.URL, token: out.Token}
}

// get answers the status and the raw body of GET /secrets/:key.
func (a *apiClient) get(key string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/secrets/"+url.PathEscape(key), nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func (a *apiClient) set(secrets map[string]any) {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"secrets": secrets})
	req, _ := http.NewRequest("POST", a.url+"/secrets", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		a.t.Fatalf("set: %d", res.StatusCode)
	}
}

// visible waits until the CSS selector matches a visible element.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// notPresent waits until nothing matches the CSS selector.
func notPresent(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitNotPresent(chromedp.CSS(sel))
}

// press presses one key as a keyboard does: the keyDown carries the text,
// so a handler's preventDefault keeps it from being typed (chromedp's
// KeyEvent sends a separate char event that nothing can cancel).
func press(key, code string, vk int64) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: code, WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk}
		if len(key) == 1 {
			down.Text, down.UnmodifiedText = key, key
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, ev); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	}
}

// keys types keys into whatever has the focus.
func keys(k string) chromedp.Action[chromedp.Void] { return chromedp.KeyEvent(k) }

func evalAction(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return chromedp.Void{}, err
	}
}

// waitText waits until an element matching sel contains text.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	s, _ := json.Marshal(sel)
	x, _ := json.Marshal(text)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool]("[...document.querySelectorAll("+string(s)+")].some((e) => e.textContent.includes("+string(x)+"))",
			chromedp.WithPollingMutation())(ctx, t)
		return chromedp.Void{}, err
	}
}
