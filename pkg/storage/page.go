package storage

import "context"

// ListPage implements Secrets.
func (c *Checked) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	if CheckName("owner", owner) != nil || !ValidPrefix(prefix) || !ValidPrefix(after) || limit <= 0 {
		return []Secret{}, ctx.Err()
	}
	if after < prefix {
		after = "" // every name under prefix sorts after it
	}
	return c.Store.ListPage(ctx, owner, prefix, after, limit)
}
