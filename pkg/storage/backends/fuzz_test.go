package backends

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCheck feeds arbitrary strings to the URI parsing (no connections):
// nothing panics, and neither the redacted URI nor Check's error shows a
// secret that the raw text holds.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"sqlite://db.sqlite", "sqlite:///abs/db.sqlite", "postgres://u:pw@h:5432/db?sslmode=disable",
		"postgresql://h/db", "mysql://root@127.0.0.1:3306/nosana_test", "mysql://u:p%40ss@h/db?tls=true",
		"mongodb://u:pw@h1:1,h2:2/db?replicaSet=rs", "mongodb+srv://u:pw@c.example/db", "redis://:pw@h:6379/1",
		"rediss://u:pw@h/0?key_prefix=x:", "redis://h/0?dial_timeout=1s", "postgres://u:p@ss/w@h/db",
		"http://x", "::", "mysql://u:%zz@h/db", "mongodb://h/a.b", "\x00://", "redis://[::1]:6379/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		kind, err := Check(uri)
		red := Redact(uri)
		if err == nil && kind == "" {
			t.Fatalf("Check(%q) accepted with no kind", uri)
		}
		public := withoutUserinfo(uri)
		for _, s := range secrets(uri) {
			if strings.Contains(public, s) || strings.Contains(schemeAndName(uri), s) {
				continue // also in a part that is not secret
			}
			if strings.Contains(red, s) {
				t.Fatalf("Redact(%q) = %q shows %q", uri, red, s)
			}
			// The parsers' own errors must not quote the secret either (Open
			// scrubs them as well, but should not have to).
			if err != nil && len(s) >= 6 && strings.Contains(err.Error(), s) {
				t.Fatalf("Check(%q) error shows %q: %v", uri, s, err)
			}
		}
	})
}

// schemeAndName is the scheme and the user name of uri, which Redact shows.
func schemeAndName(uri string) string {
	scheme, rest, _ := strings.Cut(uri, "://")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		name, _, _ := strings.Cut(rest[:at], ":")
		return scheme + "://" + name
	}
	return scheme
}

// withoutUserinfo is uri with its user information (up to the last '@')
// removed: a secret that also appears there (say, a password equal to the
// host name) cannot be hidden and is not a leak.
func withoutUserinfo(uri string) string {
	scheme, rest, _ := strings.Cut(uri, "://")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	q := ""
	if h, query, ok := strings.Cut(rest, "?"); ok {
		rest, q = h, query
		var kept []string
		for _, kv := range strings.Split(query, "&") {
			if k, _, ok := strings.Cut(kv, "="); ok && sensitive(k) {
				kv = k + "="
			}
			kept = append(kept, kv)
		}
		q = strings.Join(kept, "&")
	}
	return scheme + "://" + rest + "?" + q
}

// FuzzPassword builds URIs of every scheme around an arbitrary password,
// raw and percent-encoded, and checks that neither Redact nor Check's
// error shows it.
func FuzzPassword(f *testing.F) {
	for _, s := range []string{"hunter22", "p@ss/w:rd?#%", "ünïcødé-pässwörd", "a b c", "%41%42%43", "'\"\\`$(x)"} {
		f.Add(s)
	}
	schemes := []string{"postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss"}
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 3 {
			return
		}
		for _, scheme := range schemes {
			tail := "@db.internal:1234/nosana_test?sslmode=disable"
			if strings.HasPrefix(scheme, "redis") {
				tail = "@db.internal:1234/0"
			}
			fixed := scheme + "://admin:" + tail
			if strings.Contains(fixed, pw) || strings.Contains(redacted, pw) {
				continue // the password is part of the rest of the URI, or of xxxxx
			}
			for _, form := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw)} {
				if strings.Contains(fixed, form) || strings.Contains(redacted, form) {
					continue
				}
				uri := scheme + "://admin:" + form + tail
				// Redaction erases the password whole: the result is the
				// same as for any other password.
				if red, want := Redact(uri), Redact(scheme+"://admin:QQQQQQ"+tail); red != want {
					t.Fatalf("Redact(%q) = %q; want %q", uri, red, want)
				}
				if _, err := Check(uri); err != nil {
					msg := describe(uri, err).Error()
					// The same message around a neutral password: what it
					// contains anyway is no leak.
					around := describe(scheme+"://admin:QQQQQQ"+tail, err).Error()
					for _, p := range []string{pw, form} {
						if strings.Contains(msg, p) && !strings.Contains(around, p) {
							t.Fatalf("error for %q shows the password: %s", uri, msg)
						}
					}
				}
			}
		}
	})
}
