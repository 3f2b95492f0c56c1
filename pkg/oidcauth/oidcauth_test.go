package oidcauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth"
	"github.com/nosana-ci/nosana-secrets/pkg/oidcauth/oidctest"
)

func reason(err error) string {
	var e *oidcauth.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// TestVerifier: a good token of each key type; key rotation, with the key
// set fetched again at most once per MinRefresh; an unlisted issuer never
// contacted.
func TestVerifier(t *testing.T) {
	iss := oidctest.New(t)
	other := oidctest.New(t)
	now := time.Now()
	v := oidcauth.New(oidcauth.Config{Issuers: []string{iss.URL}, Client: iss.Client(), Now: func() time.Time { return now }})
	ctx := context.Background()
	aud := []string{"https://secrets.example.com"}
	for _, kid := range []string{"rsa-1", "ec-1"} {
		tok, err := v.Verify(ctx, iss.Sign(kid, iss.GitHub("o/r", "refs/heads/main", aud[0])), aud)
		if err != nil || tok.Subject != "repo:o/r:ref:refs/heads/main" || tok.Claims["repository"] != "o/r" {
			t.Fatalf("%s: %+v %v", kid, tok, err)
		}
	}
	if n := iss.JWKSFetches.Load(); n != 1 {
		t.Errorf("%d key fetches for two tokens", n)
	}
	if _, err := v.Verify(ctx, other.Sign("rsa-1", other.GitHub("o/r", "refs/heads/main", aud[0])), aud); reason(err) != oidcauth.ReasonUnknownIssuer {
		t.Errorf("unlisted issuer: %v", err)
	}
	if other.JWKSFetches.Load() != 0 {
		t.Error("the unlisted issuer was contacted")
	}
	kid := iss.Rotate()
	fresh := iss.Sign(kid, iss.GitHub("o/r", "refs/heads/main", aud[0]))
	if _, err := v.Verify(ctx, fresh, aud); reason(err) != oidcauth.ReasonUnknownKey {
		t.Errorf("a new kid within MinRefresh of the last fetch: %v", err)
	}
	now = now.Add(oidcauth.MinRefresh)
	if _, err := v.Verify(ctx, fresh, aud); err != nil {
		t.Errorf("after rotation: %v", err)
	}
	if n := iss.JWKSFetches.Load(); n != 2 {
		t.Errorf("%d key fetches, want 2", n)
	}
	if err := oidcauth.CheckIssuer("http://token.actions.githubusercontent.com"); err == nil {
		t.Error("an http issuer passed CheckIssuer")
	}
}

// While the key set is being fetched for a new key id, a token whose key
// is already known verifies without waiting for that fetch, and the token
// that needed it verifies once the set arrives.
func TestFetchDoesNotBlockKnownKeys(t *testing.T) {
	iss := oidctest.New(t)
	now := time.Now()
	v := oidcauth.New(oidcauth.Config{Issuers: []string{iss.URL}, Client: iss.Client(), Now: func() time.Time { return now }})
	ctx := context.Background()
	aud := []string{"https://secrets.example.com"}
	known := iss.Sign("rsa-1", iss.GitHub("o/r", "refs/heads/main", aud[0]))
	if _, err := v.Verify(ctx, known, aud); err != nil {
		t.Fatal(err)
	}
	fresh := iss.Sign(iss.Rotate(), iss.GitHub("o/r", "refs/heads/main", aud[0]))
	hold := make(chan struct{})
	iss.JWKSHold = hold
	now = now.Add(oidcauth.MinRefresh)
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, fresh, aud); done <- err }()
	for iss.JWKSFetches.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	known2 := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, known, aud); known2 <- err }()
	select {
	case err := <-known2:
		if err != nil {
			t.Fatalf("a known key during a fetch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a token of a known key waited for the key set fetch of another")
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatalf("the token that needed the fetch: %v", err)
	}
}
