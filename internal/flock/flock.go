// Package flock takes an exclusive, non-blocking lock on a file, held until
// the process exits or Unlock. The locking is github.com/gofrs/flock
// (flock(2), LockFileEx on Windows); this package only fixes the file mode
// and turns "held elsewhere" into ErrLocked for its callers.
package flock

import (
	"errors"

	"github.com/gofrs/flock"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held lock.
type Lock struct{ f *flock.Flock }

// TryLock creates path (mode 0600) if needed and locks it, or returns
// ErrLocked.
func TryLock(path string) (*Lock, error) {
	f := flock.New(path, flock.SetPermissions(0o600))
	ok, err := f.TryLock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrLocked
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.f.Close() }
