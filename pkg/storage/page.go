package storage

import "context"

// ValueLister is a store that lists names and values without Version and
// the times, which a legacy listing never shows and which cost a backend
// columns to read and fields to parse. It is optional: every layer has it
// and asks the layer below (ListValues), and a backend without it is
// listed with ListPage.
type ValueLister interface {
	// ListValues is ListPage with Version and the times left zero (a
	// backend may fill them).
	ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error)
}

// ListValues is s's ListValues when it has one, else its ListPage.
func ListValues(ctx context.Context, s Secrets, owner, prefix, after string, limit int) ([]Secret, error) {
	if vl, ok := s.(ValueLister); ok {
		return vl.ListValues(ctx, owner, prefix, after, limit)
	}
	return s.ListPage(ctx, owner, prefix, after, limit)
}

// ListPage implements Secrets.
func (c *Checked) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	after, ok := checkPage(owner, prefix, after, limit)
	if !ok {
		return []Secret{}, ctx.Err()
	}
	return c.Store.ListPage(ctx, owner, prefix, after, limit)
}

// ListValues implements ValueLister, with ListPage's checks.
func (c *Checked) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	after, ok := checkPage(owner, prefix, after, limit)
	if !ok {
		return []Secret{}, ctx.Err()
	}
	return ListValues(ctx, c.Store, owner, prefix, after, limit)
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
