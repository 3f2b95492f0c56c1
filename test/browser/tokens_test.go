package browser_test

import (
	"net/http"
	"strings"
	"testing"
)

// useToken reads key with an access token; answers the status.
func useToken(t *testing.T, base, tok, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/secrets/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestTokensAndTrustsThroughTheConsole: create an access token (shown
// once, copied), see it listed with its last use, revoke it after a
// confirmation; trust a GitHub repository and delete the trust.
func TestTokensAndTrustsThroughTheConsole(t *testing.T) {
	srv := startServer(t, nil)
	w := newWallet("Test Wallet", false)
	p := newPage(t, srv, w, "")
	w.api(t, srv).set(map[string]any{"ci/a": "A", "other": "O"})
	signIn(t, p, "Test Wallet")

	p.click(`a[href="#/tokens"]`)
	p.run("tokens page", visible("#no-tokens"))
	p.click("#new-token")
	p.typeInto("#token-name", "deploy")
	p.typeInto("#token-prefix", "ci/")
	p.shot("token-new")
	p.click("#create-token")
	p.run("token shown", visible("#new-token-value"))
	tok := strings.TrimSpace(p.text("#new-token-value"))
	if !strings.HasPrefix(tok, "nst_") || len(tok) != 85 {
		t.Fatalf("the dialog shows %q, not a token", tok)
	}
	p.click("#copy-token")
	p.run("copied", waitText("#status", "Copied the token"))
	if got := eval[string](p, "navigator.clipboard.readText()"); got != tok {
		t.Errorf("clipboard holds %q", got)
	}
	p.shot("token-created")
	p.click("#done-token")
	p.run("listed", waitText("#token-list", "deploy"))
	if strings.Contains(p.bodyText(), tok) {
		t.Error("the token is still on the page after the dialog closed")
	}
	if st := useToken(t, srv.URL, tok, "ci%2Fa"); st != 200 {
		t.Fatalf("reading with the new token: %d", st)
	}
	if st := useToken(t, srv.URL, tok, "other"); st != 403 {
		t.Errorf("reading outside the prefix: %d", st)
	}
	// The last use shows once the page loads the list again.
	p.click(`a[href="#/secrets"]`)
	p.run("secrets", visible("#add"))
	p.click(`a[href="#/tokens"]`)
	p.run("last use shown", visible("#token-list tr td:nth-child(5) time"))
	p.shot("tokens-list")

	p.click("button[data-revoke]")
	p.run("confirm asked", visible("#confirm-revoke"))
	p.click("#cancel-revoke")
	if st := useToken(t, srv.URL, tok, "ci%2Fa"); st != 200 {
		t.Fatalf("cancel revoked the token: %d", st)
	}
	p.click("button[data-revoke]")
	p.click("#confirm-revoke")
	p.run("revoked", visible("#no-tokens"))
	if st := useToken(t, srv.URL, tok, "ci%2Fa"); st != 403 {
		t.Errorf("a revoked token reads: %d", st)
	}

	p.click(`a[href="#/trusts"]`)
	p.run("trusts page", visible("#no-trusts"))
	p.click("#new-trust")
	p.typeInto("#trust-repo", "my-org/my-app")
	p.typeInto("#trust-ref", "refs/heads/main")
	p.typeInto("#trust-prefix", "deploy/")
	p.click("#create-trust")
	p.run("trust listed", waitText("#trust-list", "repository = my-org/my-app"))
	p.shot("trusts-list")
	p.click("button[data-delete]")
	p.click("#confirm-trust-delete")
	p.run("trust deleted", visible("#no-trusts"))
}
