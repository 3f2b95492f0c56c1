package ui

import "testing"

func TestPrefersHTML(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"application/json, text/plain, */*", false}, // axios
		{"text/html", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true}, // Chrome, Firefox
		{"text/html;q=0.5, application/json", false},
		{"application/json;q=0.5, text/html", true},
		{"text/*, application/json;q=0.9", true},
		{"text/html;q=0, */*", false},
		{"TEXT/HTML", true},
	} {
		if got := PrefersHTML(c.accept); got != c.want {
			t.Errorf("PrefersHTML(%q) = %v, want %v", c.accept, got, c.want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"", false}, {"gzip", true}, {"gzip, deflate, br", true}, {"br;q=1, gzip;q=0.5", true},
		{"gzip;q=0", false}, {"*", true}, {"identity", false}, {"*;q=0", false}, {"gzip;q=0, *", false},
	} {
		if got := acceptsGzip(c.v); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}
