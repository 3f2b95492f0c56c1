package jobs

import (
	"errors"
	"net/http"
)

// Class says whose fault a failed job check is, and so which HTTP status the
// server answers.
type Class int

const (
	// BadRequest: the caller named something that does not entitle them
	// (no such job, a forged account, not their job, a missing document).
	// HTTP 400, as the original server answered.
	BadRequest Class = iota + 1
	// Ended: a job token's job is over or runs on another node now
	// (StillValid). HTTP 403, so that a client logs in again once.
	Ended
	// Unavailable: the chain or IPFS could not be asked. HTTP 503.
	Unavailable
)

// HTTPStatus returns the status the server answers for c.
func (c Class) HTTPStatus() int {
	switch c {
	case BadRequest:
		return http.StatusBadRequest
	case Ended:
		return http.StatusForbidden
	}
	return http.StatusServiceUnavailable
}

func (c Class) String() string {
	switch c {
	case BadRequest:
		return "bad request"
	case Ended:
		return "ended"
	case Unavailable:
		return "unavailable"
	}
	return "unknown"
}

// Sentinels matching an *Error of each class with errors.Is.
var (
	ErrBadRequest  = errors.New("job check failed")
	ErrEnded       = errors.New("job ended or reassigned")
	ErrUnavailable = errors.New("job check unavailable")
)

// Error is the only error Grant, StillValid and ParseJob return. Message
// names the job and the reason; for BadRequest and Ended it is meant for the
// client, for Unavailable only for logs.
type Error struct {
	Class   Class
	Job     string // the job address as given
	Message string
	Err     error // the underlying solana or ipfs error, if any
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error, so errors.Is(err, ipfs.ErrNotFound)
// and the like work too.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's class.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Class == BadRequest
	case ErrEnded:
		return e.Class == Ended
	case ErrUnavailable:
		return e.Class == Unavailable
	}
	return false
}

// HTTPStatus returns 400, 403 or 503 by class.
func (e *Error) HTTPStatus() int { return e.Class.HTTPStatus() }

// HTTPStatus returns the status for an error of this package: 400, 403 or
// 503; an error from elsewhere is treated as Unavailable, never as a 500,
// and nil is 200.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.HTTPStatus()
	}
	return http.StatusServiceUnavailable
}
