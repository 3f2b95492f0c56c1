package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// apiError is an error answered with a status and the legacy error body.
type apiError struct {
	Status int
	Type   string
	Msg    string
	// Code is the stable code of package errcode; "" means the default of
	// Type (defaultCode).
	Code string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
	// CurrentVersion is sent with a check-and-set conflict (v1).
	CurrentVersion *int64
	// Path and Reason are sent with invalid_job_definition: where the
	// node's validator would refuse the definition, and why.
	Path, Reason string
	// cause is logged, never answered.
	cause error
}

func (e *apiError) Error() string { return e.Msg }

// withCode is a copy of e with a more specific code than its type's.
func (e *apiError) withCode(code string) *apiError {
	c := *e
	c.Code = code
	return &c
}

// defaultCode is the code of an error whose site gave none.
func defaultCode(typ string, status int) string {
	switch typ {
	case "ValidationError":
		return errcode.InvalidRequest
	case "ForbiddenError":
		return errcode.TokenInvalid
	case "NotFoundError":
		return errcode.NotFound
	case "MethodNotAllowed":
		return errcode.MethodNotAllowed
	case "PayloadTooLarge":
		return errcode.PayloadTooLarge
	case "QuotaExceededError":
		return errcode.QuotaExceeded
	case "TooManyRequestsError":
		return errcode.RateLimited
	}
	if status == http.StatusServiceUnavailable {
		return errcode.Unavailable
	}
	return errcode.Internal
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "ValidationError", Msg: fmt.Sprintf(format, args...)}
}

func forbidden(msg string) *apiError {
	return &apiError{Status: http.StatusForbidden, Type: "ForbiddenError", Msg: msg}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "NotFoundError", Msg: fmt.Sprintf(format, args...)}
}

func tooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "PayloadTooLarge",
		Msg: fmt.Sprintf("request body is larger than the %d-byte limit", limit)}
}

// quotaExceeded is a 413 for a write refused whole by the owner's quota:
// which limit, the use before the write, the limit.
func quotaExceeded(qe *storage.QuotaError) *apiError {
	what := "secrets (deleted keys count until they are destroyed or purged)"
	if qe.Limit == storage.LimitBytes {
		what = "encrypted bytes (every kept version counts)"
	}
	return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "QuotaExceededError",
		Msg: fmt.Sprintf("quota exceeded: this write would pass the %s limit of %d %s; %d in use; nothing was written",
			qe.Limit, qe.Max, what, qe.Used)}
}

// unavailable is a 503: a dependency did not answer; cause goes to the log.
func unavailable(msg string, cause error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "InternalServerError", Msg: msg, cause: cause}
}

// notImplemented is a 501: the server cannot do this here (a capability,
// not a fault, so it is not logged as one).
func notImplemented(code, msg string) *apiError {
	return &apiError{Status: http.StatusNotImplemented, Type: "NotImplemented", Msg: msg, Code: code}
}

// conflict is a 409 of a check-and-set that did not hold on name, which
// is at version current.
func conflict(name string, current int64) *apiError {
	return &apiError{Status: http.StatusConflict, Type: "ConflictError", Code: errcode.VersionConflict, CurrentVersion: &current,
		Msg: fmt.Sprintf("secret %s is at version %d, not the one given as cas; read it again", name, current)}
}

var errInternal = &apiError{Status: http.StatusInternalServerError, Type: "InternalServerError", Msg: "internal server error"}

// errorBody is the JSON of an error answer. ValidationError also carries the
// message as "error", the field the original server's clients read; code is
// the stable code of package errcode, for programs.
type errorBody struct {
	Type    string `json:"type"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message"`
	Code    string `json:"code"`
	// CurrentVersion: a v1 ConflictError's.
	CurrentVersion *int64 `json:"current_version,omitempty"`
	// Path and Reason: an invalid_job_definition's.
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// handleError is echo's error handler: every error becomes a legacy error
// body. Unknown errors are logged and answered 500 without detail.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	var authErr *auth.Error
	var qe *storage.QuotaError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &qe):
		ae = quotaExceeded(qe)
		s.metrics.quotaRefused.WithLabelValues(qe.Limit).Inc()
	case errors.As(err, &authErr):
		ae = badRequest("%s", authErr.Msg).withCode(authErr.Code)
	case errors.As(err, &he):
		ae = fromEcho(he)
	case errors.Is(err, storage.ErrTimeout):
		ae = unavailable("storage did not answer in time; try again", err)
	case errors.Is(err, storage.ErrUnavailable):
		ae = unavailable("storage is unavailable; try again", err)
	default:
		s.log.ErrorContext(c.Request().Context(), "request failed",
			"request_id", requestID(c), "error", err.Error())
		ae = errInternal
	}
	if ae.cause != nil {
		setLogError(c, ae.cause)
	} else if ae.Status >= 500 && ae.Status != http.StatusNotImplemented {
		setLogError(c, err)
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
	}
	body := errorBody{Type: ae.Type, Message: ae.Msg, Code: ae.Code, CurrentVersion: ae.CurrentVersion,
		Path: ae.Path, Reason: ae.Reason}
	if body.Code == "" {
		body.Code = defaultCode(ae.Type, ae.Status)
	}
	if ae.Type == "ValidationError" {
		body.Error = ae.Msg
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, body)
}

// fromEcho maps echo's own errors (no route, wrong method) to legacy bodies.
func fromEcho(he *echo.HTTPError) *apiError {
	switch he.Code {
	case http.StatusNotFound:
		return notFound("no such route; a key containing '/' must be escaped as %%2F").withCode(errcode.NoRoute)
	case http.StatusMethodNotAllowed:
		return &apiError{Status: he.Code, Type: "MethodNotAllowed", Msg: "method not allowed on this route"}
	case http.StatusRequestEntityTooLarge:
		return &apiError{Status: he.Code, Type: "PayloadTooLarge", Msg: "request body is too large"}
	}
	if he.Code >= 400 && he.Code < 500 {
		return &apiError{Status: he.Code, Type: "ValidationError", Msg: http.StatusText(he.Code)}
	}
	return errInternal
}
