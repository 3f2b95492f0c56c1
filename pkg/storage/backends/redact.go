package backends

import (
	"net/url"
	"strings"
)

const redacted = "xxxxx"

// Redact returns uri fit for a log line or an error: the password (and, for
// Redis, a lone user name, which go-redis takes for the password) becomes
// xxxxx, and so do the values of query parameters that look like secrets
// (password, sslpassword, token, secret, authMechanismProperties, …).
//
// It works on the raw text rather than trusting a URI parser, so a
// password with unencoded special characters is still hidden: the user
// information is everything up to the last '@'. A string without a scheme
// is not shown at all. SQLite URIs carry no secrets and come back as they
// are.
func Redact(uri string) string {
	uri = strings.TrimSpace(uri)
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return "(not a URI)"
	}
	lower := strings.ToLower(scheme)
	if lower == "sqlite" {
		return uri
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		name, _, hasPassword := strings.Cut(rest[:at], ":")
		switch {
		case hasPassword:
			b.WriteString(name + ":" + redacted)
		case isRedis(lower):
			b.WriteString(redacted)
		default:
			b.WriteString(name)
		}
		b.WriteByte('@')
		rest = rest[at+1:]
	}
	hostPath, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(hostPath)
	if hasQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			if k, _, hasValue := strings.Cut(kv, "="); hasValue && sensitive(k) {
				kv = k + "=" + redacted
			}
			b.WriteString(kv)
		}
	}
	return b.String()
}

// sensitive reports a query parameter whose value is a secret.
func sensitive(key string) bool {
	k := strings.ToLower(key)
	if u, err := url.QueryUnescape(k); err == nil {
		k = u
	}
	for _, s := range []string{"pass", "pwd", "secret", "token", "credential", "authmechanismproperties"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// secrets returns the strings of uri that must not appear in an error:
// the password (raw and decoded), a Redis lone user name, and the values
// of sensitive query parameters. Strings shorter than three bytes are left
// out: scrubbing them would garble messages, and they are no secret.
func secrets(uri string) []string {
	uri = strings.TrimSpace(uri)
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || strings.EqualFold(scheme, "sqlite") {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) < 3 {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s && len(d) >= 3 {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s && len(d) >= 3 {
			out = append(out, d)
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		name, pw, hasPassword := strings.Cut(rest[:at], ":")
		if hasPassword {
			add(pw)
		} else if isRedis(strings.ToLower(scheme)) {
			add(name)
		}
		rest = rest[at+1:]
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for _, kv := range strings.Split(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok && sensitive(k) {
				add(v)
			}
		}
	}
	return out
}

// isRedis reports a Redis scheme (lower case): redis, rediss and their
// +cluster and +sentinel forms.
func isRedis(scheme string) bool {
	base, _, _ := strings.Cut(scheme, "+")
	return base == "redis" || base == "rediss"
}
