package storage

import (
	"fmt"
	"strings"
)

// UnreadableError is returned by a listing (List, GetMany) of a layer that
// opens values, together with the secrets that did open: Names are those
// left out because their stored value does not open (altered, or sealed
// with a key not configured). It names secrets, never their bytes.
type UnreadableError struct {
	Owner string
	Names []string
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("%d secrets of %s do not open: %s", len(e.Names), e.Owner, strings.Join(e.Names, ", "))
}
