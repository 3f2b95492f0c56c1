// Package oidctest is a local OIDC issuer for tests, answering as GitHub
// Actions' does: discovery and JWKS over real HTTPS (an httptest TLS
// server), an RSA and an EC signing key, key rotation, and GitHub-shaped
// ID tokens.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a running issuer. URL is its issuer URL (https://127.0.0.1:…).
type Issuer struct {
	URL    string
	Server *httptest.Server

	mu   sync.Mutex
	keys map[string]signingKey // by kid, published in the JWKS
	n    int
	// JWKSFetches counts GETs of the key set.
	JWKSFetches atomic.Int64
	// JWKSHold, when set, is waited on before the key set is answered: an
	// issuer slow to answer.
	JWKSHold chan struct{}

	// Actions answers as GitHub's token service of a job
	// (ACTIONS_ID_TOKEN_REQUEST_URL, …_TOKEN): a token of its repository
	// and ref for the audience asked, signed with "rsa-1" or the newest key.
	ActionsURL, ActionsToken string
	ActionsRepo, ActionsRef  string
}

type signingKey struct {
	alg jose.SignatureAlgorithm
	key any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// New starts an issuer with one RSA key ("rsa-1") and one EC key ("ec-1").
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{keys: map[string]signingKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/.well-known/jwks",
			"subject_types_supported":               []string{"public", "pairwise"},
			"response_types_supported":              []string{"id_token"},
			"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_id", "repository_owner", "run_id", "environment", "job_workflow_ref"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		i.JWKSFetches.Add(1)
		if i.JWKSHold != nil {
			<-i.JWKSHold
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(i.JWKS())
	})
	mux.HandleFunc("GET /_actions/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+i.ActionsToken {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		i.mu.Lock()
		kid := ""
		for k := range i.keys {
			if kid == "" || k == "rsa-1" {
				kid = k
			}
		}
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"value": i.Sign(kid, i.GitHub(i.ActionsRepo, i.ActionsRef, r.URL.Query().Get("audience")))})
	})
	i.Server = httptest.NewTLSServer(mux)
	t.Cleanup(i.Server.Close)
	i.URL = i.Server.URL
	i.ActionsURL, i.ActionsToken = i.URL+"/_actions/token?api-version=2.0", "actions-request-token"
	i.ActionsRepo, i.ActionsRef = "org/repo", "refs/heads/main"
	i.AddRSA("rsa-1")
	i.AddEC("ec-1")
	return i
}

// CertFile writes the issuer's certificate as PEM into dir and returns its
// path, for SSL_CERT_FILE.
func (i *Issuer) CertFile(t testing.TB, dir string) string {
	p := filepath.Join(dir, "oidc-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Server.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Client trusts the issuer's certificate (and nothing else).
func (i *Issuer) Client() *http.Client { return i.Server.Client() }

// AddRSA adds an RS256 key published under kid.
func (i *Issuer) AddRSA(kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	i.mu.Lock()
	i.keys[kid] = signingKey{jose.RS256, k}
	i.mu.Unlock()
}

// AddEC adds an ES256 key published under kid.
func (i *Issuer) AddEC(kid string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	i.mu.Lock()
	i.keys[kid] = signingKey{jose.ES256, k}
	i.mu.Unlock()
}

// Rotate replaces every key with a new RSA key and returns its kid.
func (i *Issuer) Rotate() string {
	i.mu.Lock()
	i.n++
	kid := "rsa-rotated-" + strconv.Itoa(i.n)
	i.keys = map[string]signingKey{}
	i.mu.Unlock()
	i.AddRSA(kid)
	return kid
}

// Remove unpublishes kid (its key still signs, for forged tokens).
func (i *Issuer) Remove(kid string) (priv any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	k := i.keys[kid]
	delete(i.keys, kid)
	return k.key
}

// JWKS is the published key set.
func (i *Issuer) JWKS() jose.JSONWebKeySet {
	i.mu.Lock()
	defer i.mu.Unlock()
	var set jose.JSONWebKeySet
	for kid, k := range i.keys {
		var pub any
		switch p := k.key.(type) {
		case *rsa.PrivateKey:
			pub = &p.PublicKey
		case *ecdsa.PrivateKey:
			pub = &p.PublicKey
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	return set
}

// PublicRSA is the public key of an RSA kid, for forging HS256 with it.
func (i *Issuer) PublicRSA(kid string) *rsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &i.keys[kid].key.(*rsa.PrivateKey).PublicKey
}

// GitHub returns the claims of a GitHub Actions ID token for repo at ref,
// for audience, valid from now for 5 minutes.
func (i *Issuer) GitHub(repo, ref, audience string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": i.URL, "aud": audience,
		"sub":              "repo:" + repo + ":ref:" + ref,
		"repository":       repo,
		"repository_owner": repo[:indexSlash(repo)],
		"repository_id":    "123456",
		"ref":              ref,
		"ref_type":         "branch",
		"workflow":         "deploy",
		"event_name":       "push",
		"job_workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref,
		"run_id":           "42",
		"actor":            "octocat",
		"jti":              strconv.FormatInt(now.UnixNano(), 36),
		"iat":              now.Unix(), "nbf": now.Unix() - 5, "exp": now.Add(5 * time.Minute).Unix(),
	}
}

func indexSlash(s string) int {
	for i := range s {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

// Sign signs claims with the key kid, as the issuer does.
func (i *Issuer) Sign(kid string, claims map[string]any) string {
	i.mu.Lock()
	k, ok := i.keys[kid]
	i.mu.Unlock()
	if !ok {
		panic("oidctest: no key " + kid)
	}
	return SignWith(k.alg, k.key, kid, claims)
}

// SignWith signs claims with any key and algorithm (forgeries included).
func SignWith(alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		panic(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}
