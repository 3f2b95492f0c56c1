package storage

import "context"

// ValueLister lists names and values without Version and the times, which
// a legacy listing never shows and which cost a backend columns to read and
// fields to parse.
type ValueLister interface {
	// ListValues is ListPage with Version and the times left zero (a
	// backend may fill them).
	ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error)
}

// ListPage implements Secrets.
func (c *Checked) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	after, ok := checkPage(owner, prefix, after, limit)
	if !ok {
		return []Secret{}, ctx.Err()
	}
	return c.Backend.ListPage(ctx, owner, prefix, after, limit)
}

// ListValues implements ValueLister, with ListPage's checks.
func (c *Checked) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	after, ok := checkPage(owner, prefix, after, limit)
	if !ok {
		return []Secret{}, ctx.Err()
	}
	return c.Backend.ListValues(ctx, owner, prefix, after, limit)
}

// checkPage validates a page's arguments and returns the after a backend
// gets; false means the page is empty.
func checkPage(owner, prefix, after string, limit int) (string, bool) {
	if CheckName("owner", owner) != nil || !ValidPrefix(prefix) || !ValidPrefix(after) || limit <= 0 {
		return "", false
	}
	if after < prefix {
		after = "" // every name under prefix sorts after it
	}
	return after, true
}
