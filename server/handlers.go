package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// okBody is the answer of a successful write, the original's "OK" as JSON.
var okBody = []byte(`"OK"`)

func (s *Server) welcome(c echo.Context) error {
	if s.wantsConsole(c) {
		return c.Redirect(http.StatusSeeOther, "/ui/")
	}
	return c.JSONBlob(http.StatusOK, []byte(`"Welcome to Nosana Secret Manager"`))
}

func (s *Server) health(c echo.Context) error { return c.JSONBlob(http.StatusOK, okBody) }

// livez answers while the process runs; it checks no dependency.
func (s *Server) livez(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}

// readyz pings the store: 503 while it does not answer, 200 again once it does.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		setLogError(c, err)
		return c.JSONBlob(http.StatusServiceUnavailable,
			[]byte(`{"status":"unavailable","type":"InternalServerError","message":"storage is not answering","code":"unavailable"}`))
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *Server) readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, s.readErr(err)
	}
	if !utf8.Valid(body) {
		return nil, badRequest("request body is not valid UTF-8")
	}
	return body, nil
}

// checkKey enforces the key rules every backend shares (storage.CheckName):
// 1 to 512 bytes of UTF-8 without NUL.
func checkKey(key string) error {
	if err := storage.CheckName("secret key", key); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), storage.ErrInvalid.Error()+": "))
	}
	if reservedName(key) {
		return badRequest("secret keys may not start with the unit separator U+001F (reserved for job definitions)")
	}
	return nil
}

func (s *Server) listSecrets(c echo.Context) error {
	prefix, err := queryPrefix(c)
	if err != nil {
		return err
	}
	if !claimsOf(c).Scoped() {
		return s.streamList(c, prefix)
	}
	list, err := s.readable(c, prefix)
	if err != nil {
		return err
	}
	s.recordList(c, claimsOf(c).ReadNamespace(), list)
	buf := make([]byte, 0, entriesSize(list)+2)
	buf = append(buf, '{')
	buf = appendEntries(buf, list, true)
	buf = append(buf, '}')
	return c.JSONBlob(http.StatusOK, buf)
}

// appendEntries appends "name":value pairs of a JSON object, comma-separated,
// with a leading comma unless first.
func appendEntries(buf []byte, list []storage.Secret, first bool) []byte {
	for _, sec := range list {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendJSONString(buf, sec.Name)
		buf = append(buf, ':')
		buf = append(buf, sec.Value...)
	}
	return buf
}

// appendJSONString appends s as encoding/json writes it. Names of printable
// ASCII without " \ < > & need no escape and are copied; any other goes
// through json.Marshal, so the output is the same byte for byte.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// readable returns what the caller's token may list under prefix, sorted
// by name: an owner's own secrets, or a job token's granted ones. Values
// that do not open are left out (see noteUnreadable).
func (s *Server) readable(c echo.Context, prefix string) ([]storage.Secret, error) {
	cl := claimsOf(c)
	ctx := c.Request().Context()
	var list []storage.Secret
	var err error
	if cl.Scoped() {
		// An empty grant list reads {} (SPEC §2 step 6).
		if cl.NoGrantList {
			return nil, badRequest("no secrets in job").withCode(errcode.NoGrantList)
		}
		if err := s.checkJobToken(c, cl); err != nil {
			return nil, err
		}
		// GetMany skips names no backend can hold (storage.ValidNames).
		names := make([]string, 0, len(cl.Secrets))
		for _, k := range cl.Secrets {
			if strings.HasPrefix(k, prefix) && !reservedName(k) {
				names = append(names, k)
			}
		}
		list, err = s.store.GetMany(ctx, cl.ReadNamespace(), names)
	} else {
		list, err = s.store.List(ctx, cl.Address, prefix)
	}
	if err = s.noteUnreadable(c, err); err != nil {
		return nil, err
	}
	return withoutReserved(list), nil
}

// HeaderUnreadable counts, on a listing, the secrets left out because their
// stored value does not open (altered, or sealed with a key not configured).
const HeaderUnreadable = "X-Unreadable-Secrets"

// noteUnreadable lets a listing answer the secrets that open: each one that
// does not is logged by name at ERROR, counted in a metric and in the
// HeaderUnreadable header. Other errors are returned.
func (s *Server) noteUnreadable(c echo.Context, err error) error {
	n, err := s.countUnreadable(c, err)
	if n > 0 {
		c.Response().Header().Set(HeaderUnreadable, strconv.Itoa(n))
	}
	return err
}

// countUnreadable logs and counts the names of an *storage.UnreadableError
// and returns how many; other errors are returned.
func (s *Server) countUnreadable(c echo.Context, err error) (int, error) {
	var ue *storage.UnreadableError
	if !errors.As(err, &ue) {
		return 0, err
	}
	ctx := c.Request().Context()
	for _, name := range ue.Names {
		s.log.ErrorContext(ctx, "a stored value does not open; left out of the listing",
			"request_id", requestID(c), "owner", ue.Owner, "name", name)
	}
	s.metrics.unreadable.Add(float64(len(ue.Names)))
	return len(ue.Names), nil
}

// pathKey is the :key segment, unescaped once: "a%2Fb" is the key "a/b".
func pathKey(c echo.Context) (string, error) {
	seg := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/secrets/")
	if strings.Contains(seg, "/") {
		return "", notFound("no such route; a key containing '/' must be escaped as %%2F").withCode(errcode.NoRoute)
	}
	key, err := url.PathUnescape(seg)
	if err != nil {
		return "", badRequest("secret key in the path is not validly escaped")
	}
	return key, checkKey(key)
}

func (s *Server) getSecret(c echo.Context) error {
	cl := claimsOf(c)
	key, err := pathKey(c)
	if err != nil {
		return err
	}
	if err := scopeKey(c, key, false); err != nil {
		return err
	}
	if cl.Scoped() {
		if !cl.Grants(key) {
			s.recordDenied(c, cl.ReadNamespace(), key)
			return badRequest("secret key %s not in job", key).withCode(errcode.KeyNotGranted)
		}
		if err := s.checkJobToken(c, cl); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	sec, err := s.store.Get(ctx, cl.ReadNamespace(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("secret %s not found", key)
	}
	if err != nil {
		return err
	}
	s.recordRead(c, cl.ReadNamespace(), key)
	return c.JSONBlob(http.StatusOK, sec.Value)
}

// setSecrets stores {secrets: {k: v}, prefix?} in the caller's own namespace,
// all or nothing.
func (s *Server) setSecrets(c echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req struct {
		Secrets json.RawMessage `json:"secrets"`
		Prefix  json.RawMessage `json:"prefix"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return badRequest("body must be a JSON object like {\"secrets\": {\"KEY\": value}, \"prefix\": \"optional/\"}")
	}
	prefix := ""
	if len(req.Prefix) > 0 && string(req.Prefix) != "null" {
		if err := json.Unmarshal(req.Prefix, &prefix); err != nil {
			return badRequest("prefix must be a string")
		}
	}
	if len(req.Secrets) == 0 || req.Secrets[0] != '{' {
		return badRequest("secrets must be an object of key to value")
	}
	var secrets map[string]json.RawMessage
	if err := json.Unmarshal(req.Secrets, &secrets); err != nil {
		return badRequest("secrets must be an object of key to value")
	}
	owner := claimsOf(c).Address
	items := make([]storage.Item, 0, len(secrets))
	for k, v := range secrets {
		name := prefix + k
		if err := checkKey(name); err != nil {
			return err
		}
		if err := scopeKey(c, name, true); err != nil {
			return err
		}
		var value bytes.Buffer
		if err := json.Compact(&value, v); err != nil {
			return badRequest("value of %s is not valid JSON", name)
		}
		items = append(items, storage.Item{Name: name, Value: value.Bytes()})
	}
	if len(items) == 0 {
		return c.JSONBlob(http.StatusOK, okBody)
	}
	ctx := c.Request().Context()
	if err := s.writeItems(c, ctx, owner, items); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, okBody)
}

// deleteSecrets removes {key: "k"} or {key: ["k1", "k2"]} from the caller's
// own namespace; absent keys are not an error.
func (s *Server) deleteSecrets(c echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req struct {
		Key json.RawMessage `json:"key"`
	}
	const shape = "body must be {\"key\": \"KEY\"} or {\"key\": [\"KEY1\", \"KEY2\"]}"
	if err := json.Unmarshal(body, &req); err != nil || len(req.Key) == 0 {
		return badRequest(shape)
	}
	var keys []string
	if req.Key[0] == '[' {
		if err := json.Unmarshal(req.Key, &keys); err != nil {
			return badRequest(shape)
		}
	} else {
		var k string
		if err := json.Unmarshal(req.Key, &k); err != nil {
			return badRequest(shape)
		}
		keys = []string{k}
	}
	if len(keys) == 0 {
		return badRequest(shape)
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
		if err := scopeKey(c, k, true); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if err := s.deleteNames(c, ctx, claimsOf(c).Address, keys); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, okBody)
}
