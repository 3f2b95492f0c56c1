//go:build !unix

package flock

import "errors"

// Lock is a held lock.
type Lock struct{}

// TryLock is not supported here: callers must treat the file as shared.
func TryLock(string) (*Lock, error) { return nil, errors.ErrUnsupported }

// Unlock releases the lock.
func (l *Lock) Unlock() error { return nil }
