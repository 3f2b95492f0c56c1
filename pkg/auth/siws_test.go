package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

var siwsNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testMessage(addr string) SIWS {
	return SIWS{
		Domain:    "secrets.example.com",
		Address:   addr,
		Statement: Statement,
		URI:       "https://secrets.example.com",
		Version:   "1",
		Nonce:     "abcDEF123456",
		IssuedAt:  siwsNow,
	}
}

func TestSIWSRoundTrip(t *testing.T) {
	m := testMessage("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF")
	want := `secrets.example.com wants you to sign in with your Solana account:
FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF

Sign in to nosana-secrets.

URI: https://secrets.example.com
Version: 1
Nonce: abcDEF123456
Issued At: 2026-11-28T12:00:00Z`
	if m.String() != want {
		t.Fatalf("rendered:\n%s\nwant:\n%s", m.String(), want)
	}
	full := m
	full.ChainID = "mainnet"
	full.ExpirationTime = siwsNow.Add(time.Minute)
	full.NotBefore = siwsNow.Add(-time.Minute)
	full.RequestID = "r1"
	full.Resources = []string{"https://a.example", "job:XYZ"}
	noStatement := m
	noStatement.Statement = ""
	for _, msg := range []SIWS{m, full, noStatement} {
		got, err := ParseSIWS(msg.String())
		if err != nil {
			t.Fatalf("parse %q: %v", msg.String(), err)
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(msg)
		if string(a) != string(b) {
			t.Errorf("round trip:\n%s\n%s", a, b)
		}
	}
}

func TestParseSIWSRejects(t *testing.T) {
	good := testMessage("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF").String()
	cases := map[string]string{
		"empty":             "",
		"one line":          "hello",
		"wrong header":      strings.Replace(good, "wants you to sign in", "wants you", 1),
		"ethereum":          strings.Replace(good, "Solana account", "Ethereum account", 1),
		"no blank line":     strings.Replace(good, "hiF\n\n", "hiF\n", 1),
		"missing URI":       strings.Replace(good, "URI: https://secrets.example.com\n", "", 1),
		"version 2":         strings.Replace(good, "Version: 1", "Version: 2", 1),
		"no nonce":          strings.Replace(good, "Nonce: abcDEF123456\n", "", 1),
		"bad time":          strings.Replace(good, "2026-11-28T12:00:00Z", "yesterday", 1),
		"fields swapped":    strings.Replace(good, "URI: https://secrets.example.com\nVersion: 1", "Version: 1\nURI: https://secrets.example.com", 1),
		"repeated nonce":    strings.Replace(good, "Nonce: abcDEF123456", "Nonce: abcDEF123456\nNonce: abcDEF123457", 1),
		"unknown field":     good + "\nColour: blue",
		"trailing garbage":  good + "\ngarbage",
		"too long":          good + strings.Repeat("x", 3000),
		"domain with space": strings.Replace(good, "secrets.example.com wants", "evil.com secrets.example.com wants", 1),
		"one-digit hour":    strings.Replace(good, "2026-11-28T12:00:00Z", "0000-01-01T0:00:00Z", 1),
		"fraction":          strings.Replace(good, "2026-11-28T12:00:00Z", "2026-11-28T12:00:00.5Z", 1),
		"offset":            strings.Replace(good, "2026-11-28T12:00:00Z", "2026-11-28T13:00:00+01:00", 1),
		"CRLF":              strings.ReplaceAll(good, "\n", "\r\n"),
		"final newline":     good + "\n",
	}
	for name, msg := range cases {
		if _, err := ParseSIWS(msg); err == nil {
			t.Errorf("%s: parsed", name)
		} else if _, ok := err.(*Error); !ok {
			t.Errorf("%s: error %T is not *Error", name, err)
		}
	}
}

func TestVerifySIWS(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	addr := base58.Encode(key.Public().(ed25519.PublicKey))
	aud, err := NewAudience("https://secrets.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m SIWS) LoginRequest {
		msg := m.String()
		return LoginRequest{Address: addr, Message: msg, Signature: base58.Encode(ed25519.Sign(key, []byte(msg)))}
	}
	base := testMessage(addr)
	if _, pub, err := VerifySIWS(sign(base), []Audience{aud}, siwsNow.Add(30*time.Second), time.Minute); err != nil {
		t.Fatalf("valid message: %v", err)
	} else if !pub.Equal(key.Public()) {
		t.Fatalf("VerifySIWS returned key %x, not the signer's", pub)
	}
	mod := func(f func(*SIWS)) SIWS { m := base; f(&m); return m }
	cases := map[string]struct {
		req  LoginRequest
		now  time.Time
		want string
	}{
		"other domain":  {sign(mod(func(m *SIWS) { m.Domain = "evil.example" })), siwsNow, "this server is"},
		"other uri":     {sign(mod(func(m *SIWS) { m.URI = "https://evil.example" })), siwsNow, "URI"},
		"http uri":      {sign(mod(func(m *SIWS) { m.URI = "http://secrets.example.com" })), siwsNow, "URI"},
		"short nonce":   {sign(mod(func(m *SIWS) { m.Nonce = "abc123" })), siwsNow, "Nonce"},
		"symbol nonce":  {sign(mod(func(m *SIWS) { m.Nonce = "abcdefgh-123" })), siwsNow, "Nonce"},
		"old":           {sign(base), siwsNow.Add(61 * time.Second), "outside"},
		"future":        {sign(base), siwsNow.Add(-61 * time.Second), "outside"},
		"expired":       {sign(mod(func(m *SIWS) { m.ExpirationTime = siwsNow.Add(10 * time.Second) })), siwsNow.Add(10 * time.Second), "expired"},
		"not yet":       {sign(mod(func(m *SIWS) { m.NotBefore = siwsNow.Add(10 * time.Second) })), siwsNow, "not valid before"},
		"other address": {sign(mod(func(m *SIWS) { m.Address = "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF" })), siwsNow, "another address"},
		"tampered":      {func() LoginRequest { r := sign(base); r.Message += "\nRequest ID: x"; return r }(), siwsNow, "does not match"},
		"signature of other message": {func() LoginRequest {
			r := sign(base)
			r.Message = mod(func(m *SIWS) { m.Nonce = "zzzzzzzzzz" }).String()
			return r
		}(), siwsNow, "does not match"},
	}
	for name, c := range cases {
		_, _, err := VerifySIWS(c.req, []Audience{aud}, c.now, time.Minute)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	// Among several audiences the message's own domain decides, so a bad
	// signature is reported as such, not as another audience's mismatch.
	other, _ := NewAudience("http://127.0.0.1:4124")
	tampered := sign(base)
	tampered.Signature = sign(mod(func(m *SIWS) { m.Nonce = "zzzzzzzzzz" })).Signature
	for _, auds := range [][]Audience{{aud, other}, {other, aud}} {
		if _, _, err := VerifySIWS(sign(base), auds, siwsNow, time.Minute); err != nil {
			t.Errorf("audiences %v: %v", auds, err)
		}
		if _, _, err := VerifySIWS(tampered, auds, siwsNow, time.Minute); err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("audiences %v, bad signature: %v", auds, err)
		}
	}
	if _, _, err := VerifySIWS(sign(base), nil, siwsNow, time.Minute); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("no audience: %v", err)
	}
}

func TestNewAudience(t *testing.T) {
	a, err := NewAudience("http://127.0.0.1:4124")
	if err != nil || a.Domain != "127.0.0.1:4124" || a.URI != "http://127.0.0.1:4124" {
		t.Errorf("%+v %v", a, err)
	}
	for _, bad := range []string{"", "secrets.example.com", "ftp://x", "https://"} {
		if _, err := NewAudience(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseSIWS(f *testing.F) {
	m := testMessage("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF")
	f.Add(m.String())
	m.Resources = []string{"a", "b"}
	m.ExpirationTime = siwsNow
	f.Add(m.String())
	f.Add("x wants you to sign in with your Solana account:\n\n\nURI: \nVersion: 1")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSIWS(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		// Only the canonical form is accepted: it renders back to itself.
		if m.String() != s {
			t.Fatalf("accepted a non-canonical message:\n%q\nrenders as\n%q", s, m.String())
		}
	})
}

func FuzzParseLoginRequest(f *testing.F) {
	f.Add([]byte(`{"address":"FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF","signature":"4qoo","timestamp":1700000000}`))
	f.Add([]byte(`{"address":"a","signature":"b","message":"m","job":"j"}`))
	f.Add([]byte(`{"timestamp":"0017"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseLoginRequest(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if r.Address == "" || r.Signature == "" || (r.Timestamp == "") == (r.Message == "") {
			t.Fatalf("accepted an incomplete request: %+v", r)
		}
		for _, c := range r.Timestamp {
			if c < '0' || c > '9' {
				t.Fatalf("timestamp %q", r.Timestamp)
			}
		}
		_, _ = VerifyLegacy(r, time.Unix(1700000000, 0), time.Minute)
	})
}
