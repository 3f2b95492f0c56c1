package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// A legacy listing reads the store a page at a time, so its memory is a
// page, not the namespace: the first page of listPageSize secrets, each
// later one as many as fit in listPageBytes at the last page's mean size,
// from listPageMin to listPageMax. A namespace of small values then takes
// few round trips (1,000 of 100 B: two pages, not four) and one of large
// values holds no more than about listPageBytes at a time.
const (
	listPageSize  = 256
	listPageBytes = 256 << 10
	listPageMin   = 16
	listPageMax   = 2048
)

// nextLimit is the size of the page after page (see listPageBytes).
func nextLimit(page []storage.Secret) int {
	if len(page) == 0 {
		return listPageSize
	}
	n := 0
	for _, sec := range page {
		n += len(sec.Name) + len(sec.Value)
	}
	return min(max(listPageBytes*len(page)/max(n, 1), listPageMin), listPageMax)
}

// entriesSize is the length of appendEntries' output for list, or a bound
// on it when names need escaping (which rarely grows the buffer once).
func entriesSize(list []storage.Secret) int {
	n := 0
	for _, sec := range list {
		n += len(sec.Name) + len(sec.Value) + 4 // quotes, colon, comma
	}
	return n
}

// streamList answers an owner's GET /secrets page by page. A listing that
// fits in one page is answered whole, with HeaderUnreadable as a header;
// a longer one is streamed, and HeaderUnreadable comes as a trailer. A
// store fault after the first page cuts the answer short (the client sees
// a truncated body, never a well-formed partial listing). Pages are not a
// snapshot: a write made meanwhile may or may not be seen.
func (s *Server) streamList(c echo.Context, prefix string) error {
	owner := claimsOf(c).Address
	page, last, full, bad, err := s.listPage(c, owner, prefix, "", listPageSize, false)
	if err != nil {
		return err
	}
	res := c.Response()
	s.recordList(c, owner, page)
	if !full {
		if bad > 0 {
			res.Header().Set(HeaderUnreadable, strconv.Itoa(bad))
		}
		buf := append(appendEntries(append(make([]byte, 0, entriesSize(page)+2), '{'), page, true), '}')
		return c.JSONBlob(http.StatusOK, buf)
	}
	res.Header().Set("Trailer", HeaderUnreadable)
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	// One buffer for every page, each page one Write: net/http's own
	// buffers pass a write this large straight to the connection.
	buf := append(make([]byte, 0, entriesSize(page)+1), '{')
	buf = appendEntries(buf, page, true)
	first := len(page) == 0
	for full {
		if _, err := res.Write(buf); err != nil {
			return nil // the client left
		}
		var n int
		page, last, full, n, err = s.listPage(c, owner, prefix, last, nextLimit(page), false)
		if err != nil {
			s.log.ErrorContext(c.Request().Context(), "listing cut short by a store fault",
				"request_id", requestID(c), "error", err.Error())
			panic(http.ErrAbortHandler)
		}
		bad += n
		s.recordList(c, owner, page) // one event a page: memory stays a page
		// Grown once to the page's size (+1 for a closing brace), not by appends.
		buf = appendEntries(slices.Grow(buf[:0], entriesSize(page)+1), page, first)
		first = first && len(page) == 0
	}
	buf = append(buf, '}')
	if _, err := res.Write(buf); err != nil {
		return nil // the client left
	}
	if bad > 0 {
		res.Header().Set(HeaderUnreadable, strconv.Itoa(bad))
	}
	return nil
}

// listPage reads one page of limit after the name after, with versions
// and times when meta (a legacy listing shows neither, GET /v1/secrets
// both). last is the last name the store gave (readable or not), full
// whether the page was a whole one (so more may follow), bad how many of
// it do not open.
func (s *Server) listPage(c echo.Context, owner, prefix, after string, limit int, meta bool) (page []storage.Secret, last string, full bool, bad int, err error) {
	if meta {
		page, err = s.store.ListPage(c.Request().Context(), owner, prefix, after, limit)
	} else {
		page, err = s.store.ListValues(c.Request().Context(), owner, prefix, after, limit)
	}
	var ue *storage.UnreadableError
	errors.As(err, &ue)
	if bad, err = s.countUnreadable(c, err); err != nil {
		return nil, "", false, 0, err
	}
	n := len(page)
	if len(page) > 0 {
		last = page[len(page)-1].Name
	}
	if ue != nil {
		n += len(ue.Names)
		for _, name := range ue.Names {
			last = max(last, name)
		}
	}
	return withoutReserved(page), last, n == limit, bad, nil
}
