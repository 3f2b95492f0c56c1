// Package ui is the web console: its page and its bundle (built from web/
// by `npm run build`, committed), embedded in the binary and served with a
// strict Content-Security-Policy.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed index.html icon.svg assets
var files embed.FS

// CSP lets the console load only its own files and talk only to its own
// origin; wallet icons come as data: URLs.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body, gz    []byte
	etag, ctype string
	cache       string
}

// Handler serves the console's files at the paths below its mount point
// ("" and "index.html" are the page); config is served as config.json,
// the settings the page needs (the server's sign-in audiences).
type Handler struct {
	assets map[string]*asset
}

// New loads and compresses the embedded files once.
func New(config []byte) (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		h.assets[p] = newAsset(p, b, "no-cache")
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.assets[""] = h.assets["index.html"]
	h.assets["config.json"] = newAsset("config.json", config, "no-store")
	return h, nil
}

func newAsset(name string, b []byte, cache string) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`, cache: cache}
	a.ctype = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		a.ctype = "text/javascript; charset=utf-8"
	case ".svg":
		a.ctype = "image/svg+xml"
	}
	if len(b) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if buf.Len() < len(b) {
			a.gz = buf.Bytes()
		}
	}
	return a
}

// Serve writes the file at name (relative to the mount point) with the
// console's security headers; unknown names are 404.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, name string) {
	hd := w.Header()
	SecurityHeaders(hd)
	a, ok := h.assets[name]
	if !ok {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("not found\n"))
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", a.cache)
	hd.Set("ETag", a.etag)
	body := a.body
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			hd.Set("Content-Encoding", "gzip")
			body = a.gz
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// SecurityHeaders are set on every console answer.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip.
func acceptsGzip(v string) bool { return quality(v, "gzip") > 0 }

// PrefersHTML reports whether an Accept header ranks text/html above
// application/json, as a browser's navigation does and an API client
// (no Accept, */*, or application/json) does not.
func PrefersHTML(accept string) bool {
	return quality(accept, "text/html") > quality(accept, "application/json")
}

// quality is the q-value (RFC 9110 §12.4.2) an Accept or Accept-Encoding
// header gives name, by its most specific matching range: the exact name,
// then type/*, then *; 0 when none matches.
func quality(header, name string) float64 {
	best, q := -1, 0.0
	typ, _, _ := strings.Cut(name, "/")
	for _, part := range strings.Split(header, ",") {
		rng, params, _ := strings.Cut(part, ";")
		rng = strings.ToLower(strings.TrimSpace(rng))
		spec := -1
		switch rng {
		case name:
			spec = 2
		case typ + "/*":
			spec = 1
		case "*/*", "*":
			spec = 0
		}
		if spec <= best {
			continue
		}
		best, q = spec, 1
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
	}
	return q
}
