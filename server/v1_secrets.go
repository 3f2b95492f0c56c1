package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Limits of a GET /v1/secrets page.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// keyInfo is one item of GET /v1/secrets: a key's metadata, no value.
type keyInfo struct {
	Key       string    `json:"key"`
	Version   int64     `json:"version"`
	Size      int       `json:"size"` // bytes of the JSON value as stored
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type keyPage struct {
	Items      []keyInfo `json:"items"`
	NextCursor *string   `json:"next_cursor"`
}

// listKeys is GET /v1/secrets?prefix=&limit=&cursor=: the keys the token
// may read, sorted, with metadata and without values, limit at a time;
// next_cursor, when not null, fetches the next page. Job tokens list what
// they may read through GET /secrets.
func (s *Server) listKeys(c echo.Context) error {
	prefix, err := queryPrefix(c)
	if err != nil {
		return err
	}
	limit := DefaultPageSize
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return badRequest("limit must be a whole number from 1 to %d", MaxPageSize)
		}
		limit = n
	}
	after := ""
	if v := c.QueryParam("cursor"); v != "" {
		// A cursor is a name this server gave out: base64url of at most
		// MaxNameLen bytes of UTF-8 without NUL. Anything else is the
		// client's mistake, on every backend, before any store sees it.
		if len(v) > base64.RawURLEncoding.EncodedLen(storage.MaxNameLen) {
			return badRequest("cursor is not one this server gave out; start again without it")
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 || !utf8.Valid(b) || !storage.ValidPrefix(string(b)) {
			return badRequest("cursor is not one this server gave out; start again without it")
		}
		after = string(b)
	}
	if c.QueryParam("as_of") != "" {
		asOf, err := parseTime(c, "as_of")
		if err != nil {
			return err
		}
		return s.listAsOf(c, prefix, after, limit, asOf)
	}
	var list []storage.Secret
	next := ""
	if claimsOf(c).Scoped() {
		// A grant list is short: read it whole, then cut the page.
		all, err := s.readable(c, prefix)
		if err != nil {
			return err
		}
		list = all[sort.Search(len(all), func(i int) bool { return all[i].Name > after }):]
		if len(list) > limit {
			list = list[:limit]
			next = list[limit-1].Name
		}
		// GetMany need not carry versions and times: read them for the
		// page (a grant list is a few keys).
		if list, err = s.withMeta(c, list); err != nil {
			return err
		}
	} else {
		page, last, full, bad, err := s.listPage(c, claimsOf(c).Address, prefix, after, limit, true)
		if err != nil {
			return err
		}
		if bad > 0 {
			c.Response().Header().Set(HeaderUnreadable, strconv.Itoa(bad))
		}
		list = page
		if full {
			next = last // the last page may then be empty
		}
	}
	page := keyPage{Items: make([]keyInfo, 0, len(list))}
	for _, sec := range list {
		page.Items = append(page.Items, keyInfo{Key: sec.Name, Version: sec.Version, Size: len(sec.Value),
			CreatedAt: sec.CreatedAt.UTC(), UpdatedAt: sec.UpdatedAt.UTC()})
	}
	if next != "" {
		cur := base64.RawURLEncoding.EncodeToString([]byte(next))
		page.NextCursor = &cur
	}
	s.recordList(c, claimsOf(c).ReadNamespace(), list)
	return c.JSON(http.StatusOK, page)
}

// withMeta fills in the version and times of a job token's page, which
// GetMany may leave zero; a key deleted meanwhile is left out.
func (s *Server) withMeta(c echo.Context, list []storage.Secret) ([]storage.Secret, error) {
	ns := claimsOf(c).ReadNamespace()
	out := list[:0]
	for _, sec := range list {
		if sec.Version > 0 {
			out = append(out, sec)
			continue
		}
		full, err := s.store.Get(c.Request().Context(), ns, sec.Name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}
