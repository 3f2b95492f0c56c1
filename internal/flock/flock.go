// Package flock takes an exclusive, non-blocking lock on a file, held until
// the process exits or Unlock.
package flock

import "errors"

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("locked by another process")
