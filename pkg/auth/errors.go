// Package auth checks sign-in messages and issues and verifies the server's
// tokens.
package auth

import "fmt"

// Error is a sign-in failure caused by the request; its message is safe to
// show the caller and never contains a signature or token. Code is its
// errcode, "" for a malformed request.
type Error struct{ Msg, Code string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// errorc is errorf with a code of package errcode.
func errorc(code, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Code: code}
}
