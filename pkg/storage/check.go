package storage

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by the error a write returns for a name, owner or
// key that no backend can store. The server validates input first; this is
// the store's own guard (see Checked), and a batch with one invalid item
// writes nothing.
var ErrInvalid = errors.New("storage: invalid input")

// CheckName reports whether s can be stored as an owner, secret name, nonce,
// counter or meta key on every backend: 1 to MaxNameLen bytes of valid UTF-8
// without NUL (PostgreSQL text cannot hold NUL or invalid UTF-8). what names
// the field in the error, e.g. "name".
func CheckName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%w: %s is %d bytes long, more than %d", ErrInvalid, what, len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, what)
	}
	return nil
}

// prepareBatch validates owner and every item (nothing is written when one
// is invalid) and returns the items deduplicated and sorted (see Dedupe).
func prepareBatch(owner string, items []Item) ([]Item, error) {
	if err := checkItems(owner, items); err != nil {
		return nil, err
	}
	return Dedupe(items), nil
}

// checkItems validates owner and every item of a batch.
func checkItems(owner string, items []Item) error {
	if err := CheckName("owner", owner); err != nil {
		return err
	}
	for i := range items {
		if err := CheckName("name", items[i].Name); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}

// Dedupe returns items with one entry per name, the last one given winning
// (as with repeated keys in a JSON object), sorted by name so that
// concurrent batches lock rows in the same order. It never modifies items.
// A nil Value becomes an empty, non-nil one.
func Dedupe(items []Item) []Item {
	idx := make(map[string]int, len(items))
	out := make([]Item, 0, len(items))
	for _, it := range items {
		if it.Value == nil {
			it.Value = []byte{}
		}
		if i, ok := idx[it.Name]; ok {
			out[i] = it
			continue
		}
		idx[it.Name] = len(out)
		out = append(out, it)
	}
	sortItems(out)
	return out
}

// ValidNames returns the distinct names that CheckName accepts, sorted.
// Reads and deletes use it: a name that cannot be stored cannot exist.
func ValidNames(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := seen[n]; ok || CheckName("name", n) != nil {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// ValidPrefix reports whether some storable name can start with prefix; a
// List with any other prefix is empty.
func ValidPrefix(prefix string) bool {
	return len(prefix) <= MaxNameLen && utf8.ValidString(prefix) && strings.IndexByte(prefix, 0) < 0
}
