package auth

import (
	"crypto/ed25519"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// SIWS is a Sign-In With Solana message (the EIP-4361 text with a Solana
// account), as wallets display it.
type SIWS struct {
	Domain         string
	Address        string
	Statement      string
	URI            string
	Version        string
	ChainID        string
	Nonce          string
	IssuedAt       time.Time
	ExpirationTime time.Time // zero when absent
	NotBefore      time.Time // zero when absent
	RequestID      string
	Resources      []string
}

// Statement is the line our clients put in every message.
const Statement = "Sign in to nosana-secrets."

const siwsHeader = " wants you to sign in with your Solana account:"

// MinNonceLen is the shortest accepted nonce.
const MinNonceLen = 8

// String renders m in the SIWS text form; Parse(m.String()) returns m.
func (m SIWS) String() string {
	var b strings.Builder
	b.WriteString(m.Domain + siwsHeader + "\n" + m.Address + "\n")
	if m.Statement != "" {
		b.WriteString("\n" + m.Statement + "\n")
	}
	b.WriteString("\nURI: " + m.URI + "\nVersion: " + m.Version + "\n")
	if m.ChainID != "" {
		b.WriteString("Chain ID: " + m.ChainID + "\n")
	}
	b.WriteString("Nonce: " + m.Nonce + "\nIssued At: " + m.IssuedAt.UTC().Format(time.RFC3339) + "\n")
	if !m.ExpirationTime.IsZero() {
		b.WriteString("Expiration Time: " + m.ExpirationTime.UTC().Format(time.RFC3339) + "\n")
	}
	if !m.NotBefore.IsZero() {
		b.WriteString("Not Before: " + m.NotBefore.UTC().Format(time.RFC3339) + "\n")
	}
	if m.RequestID != "" {
		b.WriteString("Request ID: " + m.RequestID + "\n")
	}
	if len(m.Resources) > 0 {
		b.WriteString("Resources:")
		for _, r := range m.Resources {
			b.WriteString("\n- " + r)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// siwsFields are the "Name: value" lines in the order the format fixes.
var siwsFields = []string{"URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID", "Resources"}

// ParseSIWS parses a SIWS message strictly: fixed line order, each field at
// most once, no unknown lines, and in the one form String renders (LF line
// ends, no final newline, times like 2026-11-28T12:00:00Z), so a signed
// text has one reading. It checks shape only; Verify checks meaning.
func ParseSIWS(text string) (SIWS, error) {
	m, err := parseSIWS(text)
	if err != nil {
		return m, err
	}
	if m.String() != text {
		return SIWS{}, errorf("sign-in message is not in the canonical form: LF line ends, no final newline, times in UTC like 2026-11-28T12:00:00Z")
	}
	return m, nil
}

func parseSIWS(text string) (SIWS, error) {
	var m SIWS
	if len(text) > maxMessageLen {
		return m, errorf("sign-in message is longer than %d bytes", maxMessageLen)
	}
	lines := strings.Split(text, "\n")
	bad := func(format string, args ...any) (SIWS, error) {
		return SIWS{}, errorf("sign-in message: "+format, args...)
	}
	if len(lines) < 6 {
		return bad("too short; expected the Sign-In With Solana format")
	}
	domain, ok := strings.CutSuffix(lines[0], siwsHeader)
	if !ok || domain == "" || strings.ContainsAny(domain, " \t") {
		return bad("first line must be \"<domain>%s\"", siwsHeader)
	}
	m.Domain = domain
	m.Address = lines[1]
	if m.Address == "" || strings.ContainsAny(m.Address, " \t") {
		return bad("second line must be the Solana address")
	}
	if lines[2] != "" {
		return bad("expected an empty line after the address")
	}
	i := 3
	if !strings.HasPrefix(lines[i], "URI: ") {
		m.Statement = lines[i]
		if i+1 >= len(lines) || lines[i+1] != "" {
			return bad("expected an empty line after the statement")
		}
		i += 2
	}
	next := 0 // index into siwsFields: fields must come in order
	for ; i < len(lines); i++ {
		name, value, ok := strings.Cut(lines[i], ": ")
		if lines[i] == "Resources:" {
			name, value, ok = "Resources", "", true
		}
		if !ok {
			return bad("line %d %q is not a \"Name: value\" field", i+1, clip(lines[i]))
		}
		pos := -1
		for j := next; j < len(siwsFields); j++ {
			if siwsFields[j] == name {
				pos = j
				break
			}
		}
		if pos < 0 {
			return bad("unexpected or repeated field %q (fields: %s, in that order)", clip(name), strings.Join(siwsFields, ", "))
		}
		next = pos + 1
		var err error
		switch name {
		case "URI":
			m.URI = value
		case "Version":
			m.Version = value
		case "Chain ID":
			m.ChainID = value
		case "Nonce":
			m.Nonce = value
		case "Issued At":
			m.IssuedAt, err = parseTime(name, value)
		case "Expiration Time":
			m.ExpirationTime, err = parseTime(name, value)
		case "Not Before":
			m.NotBefore, err = parseTime(name, value)
		case "Request ID":
			m.RequestID = value
		case "Resources":
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "- ") {
				m.Resources = append(m.Resources, lines[i+1][2:])
				i++
			}
		}
		if err != nil {
			return SIWS{}, err
		}
	}
	switch {
	case m.URI == "":
		return bad("URI is required")
	case m.Version != "1":
		return bad("Version must be 1")
	case m.Nonce == "":
		return bad("Nonce is required")
	case m.IssuedAt.IsZero():
		return bad("Issued At is required")
	}
	if _, err := url.Parse(m.URI); err != nil {
		return bad("URI is not a URL")
	}
	return m, nil
}

// parseTime accepts an RFC 3339 UTC time in whole seconds, written as
// String writes it: time.Parse alone also takes one-digit hours.
func parseTime(name, value string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, value)
	if err != nil || t.UTC().Format(time.RFC3339) != value {
		return time.Time{}, errorf("sign-in message: %s %q is not a UTC time like 2026-11-28T12:00:00Z", name, clip(value))
	}
	return t, nil
}

// clip shortens user text quoted back in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// validNonce is at least MinNonceLen letters or digits, and at most 128.
func validNonce(n string) bool {
	if len(n) < MinNonceLen || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Audience is where sign-in messages must point: the server's public URL.
type Audience struct {
	Domain string // host[:port] of PublicURL
	URI    string // PublicURL without a trailing slash
}

// NewAudience derives the expected domain and URI from a public URL.
func NewAudience(publicURL string) (Audience, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Audience{}, fmt.Errorf("PUBLIC_URL %q must be an http(s) URL like https://secrets.example.com", publicURL)
	}
	return Audience{Domain: u.Host, URI: strings.TrimSuffix(u.String(), "/")}, nil
}

// VerifySIWS checks a SIWS login: the message's shape, its domain against
// the audiences and its URI against the one of that domain, the address
// line, the time window and the signature. It returns the parsed message
// and the signer's key; the caller must still burn its nonce.
func VerifySIWS(r LoginRequest, auds []Audience, now time.Time, window time.Duration) (SIWS, ed25519.PublicKey, error) {
	m, err := ParseSIWS(r.Message)
	if err != nil {
		return m, nil, err
	}
	if len(auds) == 0 {
		return m, nil, errorc(errcode.SIWSUnavailable, "message sign-in is not configured on this server (PUBLIC_URL)")
	}
	aud := auds[0]
	for _, a := range auds {
		if a.Domain == m.Domain {
			aud = a
			break
		}
	}
	switch {
	case m.Domain != aud.Domain:
		return m, nil, errorc(errcode.WrongAudience, "sign-in message is for %q, but this server is %q", clip(m.Domain), aud.Domain)
	case strings.TrimSuffix(m.URI, "/") != aud.URI:
		return m, nil, errorc(errcode.WrongAudience, "sign-in message URI %q is not this server's %q", clip(m.URI), aud.URI)
	case m.Address != r.Address:
		return m, nil, errorf("sign-in message is for another address than the one sent")
	case !validNonce(m.Nonce):
		return m, nil, errorf("sign-in message Nonce must be %d to 128 letters or digits", MinNonceLen)
	}
	if d := now.Sub(m.IssuedAt); d > window || d < -window {
		return m, nil, errorc(errcode.LoginWindow, "sign-in message was issued at %s, outside the %s window of the server clock (%s); sign a fresh one",
			m.IssuedAt.UTC().Format(time.RFC3339), window, now.UTC().Format(time.RFC3339))
	}
	if !m.ExpirationTime.IsZero() && !now.Before(m.ExpirationTime) {
		return m, nil, errorc(errcode.LoginWindow, "sign-in message expired at %s", m.ExpirationTime.UTC().Format(time.RFC3339))
	}
	if !m.NotBefore.IsZero() && now.Before(m.NotBefore) {
		return m, nil, errorc(errcode.LoginWindow, "sign-in message is not valid before %s", m.NotBefore.UTC().Format(time.RFC3339))
	}
	pub, err := VerifySignature(r.Address, r.Signature, []byte(r.Message))
	if err != nil {
		return m, nil, err
	}
	return m, pub, nil
}

// NonceKey is the storage key that remembers a used nonce of an address.
func NonceKey(address, nonce string) string { return "siws:" + address + ":" + nonce }

// NonceExpiry is how long a nonce must be remembered: until no clock within
// the window would accept its message again.
func NonceExpiry(m SIWS, window time.Duration) time.Time {
	return m.IssuedAt.Add(window + time.Minute)
}
