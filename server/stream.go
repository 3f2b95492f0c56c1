package server

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// listPageSize is how many secrets a legacy listing reads from the store
// at a time: its memory is a page, not the namespace.
const listPageSize = 256

// streamList answers an owner's GET /secrets page by page. A listing that
// fits in one page is answered whole, with HeaderUnreadable as a header;
// a longer one is streamed, and HeaderUnreadable comes as a trailer. A
// store fault after the first page cuts the answer short (the client sees
// a truncated body, never a well-formed partial listing). Pages are not a
// snapshot: a write made meanwhile may or may not be seen.
func (s *Server) streamList(c echo.Context, prefix string) error {
	owner := claimsOf(c).Address
	page, last, full, bad, err := s.listPage(c, owner, prefix, "", listPageSize)
	if err != nil {
		return err
	}
	res := c.Response()
	s.recordList(c, owner, page)
	if !full {
		if bad > 0 {
			res.Header().Set(HeaderUnreadable, strconv.Itoa(bad))
		}
		res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		res.WriteHeader(http.StatusOK)
		w := bufio.NewWriterSize(res, 32<<10)
		_ = w.WriteByte('{')
		writeEntries(w, page, true)
		_ = w.WriteByte('}')
		return w.Flush()
	}
	res.Header().Set("Trailer", HeaderUnreadable)
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(res, 32<<10)
	_ = w.WriteByte('{')
	writeEntries(w, page, true)
	first := len(page) == 0
	for full {
		var n int
		page, last, full, n, err = s.listPage(c, owner, prefix, last, listPageSize)
		if err != nil {
			s.log.ErrorContext(c.Request().Context(), "listing cut short by a store fault",
				"request_id", requestID(c), "error", err.Error())
			panic(http.ErrAbortHandler)
		}
		bad += n
		s.recordList(c, owner, page) // one event a page: memory stays a page
		writeEntries(w, page, first)
		first = first && len(page) == 0
	}
	_ = w.WriteByte('}')
	if err := w.Flush(); err != nil {
		return nil // the client left
	}
	if bad > 0 {
		res.Header().Set(HeaderUnreadable, strconv.Itoa(bad))
	}
	return nil
}

// listPage reads one page of limit after the name after. last is the last
// name the store gave (readable or not), full whether the page was a whole
// one (so more may follow), bad how many of it do not open.
func (s *Server) listPage(c echo.Context, owner, prefix, after string, limit int) (page []storage.Secret, last string, full bool, bad int, err error) {
	page, err = s.store.ListPage(c.Request().Context(), owner, prefix, after, limit)
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
	return page, last, n == limit, bad, nil
}
