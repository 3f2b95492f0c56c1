package auth

import (
	"strings"
	"testing"
)

func TestAccessTokenFormat(t *testing.T) {
	tok, id := NewAccessToken()
	if len(tok) != AccessTokenLen || !strings.HasPrefix(tok, "nst_"+id+"_") {
		t.Fatalf("token %q (id %s)", tok, id)
	}
	if got, ok := ParseAccessToken(tok); !ok || got != id {
		t.Errorf("ParseAccessToken(%q) = %q, %v", tok, got, ok)
	}
	other, _ := NewAccessToken()
	if other == tok {
		t.Error("two tokens alike")
	}
	for _, bad := range []string{"", "nst_", tok[:len(tok)-1], tok + "0", strings.ToUpper(tok), "nst_" + id + "-" + tok[len("nst_")+17:],
		strings.Replace(tok, tok[len(tok)-1:], "g", 1)} {
		if _, ok := ParseAccessToken(bad); ok {
			t.Errorf("ParseAccessToken accepted %q", bad)
		}
	}
	h := HashAccessToken(tok)
	if len(h) != 64 || strings.Contains(h, tok[len("nst_")+17:]) || !AccessHashMatches(tok, h) || AccessHashMatches(other, h) {
		t.Errorf("hash %s", h)
	}
}

func TestAccessScope(t *testing.T) {
	a := NewAccess(Access{ID: "0123456789abcdef", Name: "ci", Prefix: "ci/"})
	if !a.Allows("ci/x", false) || a.Allows("ci/x", true) || a.Allows("cj", false) || a.Allows("c", false) {
		t.Error("read-only ci/ token")
	}
	w := Access{Prefix: "", Write: true}
	if !w.Allows("anything", true) {
		t.Error("write token without prefix")
	}
	if a.Actor() != "token 0123456789abcdef (ci)" {
		t.Errorf("actor %q", a.Actor())
	}
	x := Access{ID: "i", Name: "deploy", Trust: "t", Subject: "repo:o/r:ref:refs/heads/main"}
	if x.Actor() != "trust t (deploy) repo:o/r:ref:refs/heads/main" {
		t.Errorf("actor %q", x.Actor())
	}
}
