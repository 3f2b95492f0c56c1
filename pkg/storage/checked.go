package storage

import (
	"context"
	"time"
)

// Checked validates every input once, above the backend, as Vault's
// encoding wrapper does for its physical backends: a name no backend can
// store is absent on reads and deletes and an ErrInvalid error on writes;
// name lists reach the backend distinct and sorted, batches deduplicated
// and sorted. Backends therefore repeat none of it.
type Checked struct {
	Backend
}

// Check wraps b in a Checked layer, unless it is one already.
func Check(b Backend) *Checked {
	if c, ok := b.(*Checked); ok {
		return c
	}
	return &Checked{Backend: b}
}

func validOwnerName(owner, name string) bool {
	return CheckName("owner", owner) == nil && CheckName("name", name) == nil
}

// Get implements Secrets.
func (c *Checked) Get(ctx context.Context, owner, name string) (Secret, error) {
	if !validOwnerName(owner, name) {
		if err := ctx.Err(); err != nil {
			return Secret{}, err
		}
		return Secret{}, ErrNotFound
	}
	return c.Backend.Get(ctx, owner, name)
}

// GetMany implements Secrets.
func (c *Checked) GetMany(ctx context.Context, owner string, names []string) ([]Secret, error) {
	names = ValidNames(names)
	if CheckName("owner", owner) != nil || len(names) == 0 {
		return []Secret{}, ctx.Err()
	}
	return c.Backend.GetMany(ctx, owner, names)
}

// List implements Secrets.
func (c *Checked) List(ctx context.Context, owner, prefix string) ([]Secret, error) {
	if CheckName("owner", owner) != nil || !ValidPrefix(prefix) {
		return []Secret{}, ctx.Err()
	}
	return c.Backend.List(ctx, owner, prefix)
}

// Put implements Secrets.
func (c *Checked) Put(ctx context.Context, owner string, items []Item) error {
	items, err := prepareBatch(owner, items)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return ctx.Err()
	}
	return c.Backend.Put(ctx, owner, items)
}

// Delete implements Secrets.
func (c *Checked) Delete(ctx context.Context, owner string, names []string) error {
	names = ValidNames(names)
	if CheckName("owner", owner) != nil || len(names) == 0 {
		return ctx.Err()
	}
	return c.Backend.Delete(ctx, owner, names)
}

// Swap implements Walker.
func (c *Checked) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	if !validOwnerName(owner, name) {
		return false, ctx.Err()
	}
	return c.Backend.Swap(ctx, owner, name, NonNil(old), NonNil(new))
}

// UseNonce implements Ephemeral.
func (c *Checked) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	if err := CheckName("nonce", nonce); err != nil {
		return false, err
	}
	return c.Backend.UseNonce(ctx, nonce, expires)
}

// Incr implements Ephemeral.
func (c *Checked) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	if err := CheckName("counter key", key); err != nil {
		return 0, err
	}
	return c.Backend.Incr(ctx, key, n, expires)
}

// GetMeta implements Meta.
func (c *Checked) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if CheckName("meta key", key) != nil {
		return nil, ErrNotFound
	}
	return c.Backend.GetMeta(ctx, key)
}

// InitMeta implements Meta.
func (c *Checked) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	if err := CheckName("meta key", key); err != nil {
		return nil, err
	}
	return c.Backend.InitMeta(ctx, key, NonNil(value))
}

// PutMeta implements Meta.
func (c *Checked) PutMeta(ctx context.Context, key string, value []byte) error {
	if err := CheckName("meta key", key); err != nil {
		return err
	}
	return c.Backend.PutMeta(ctx, key, NonNil(value))
}

// NonNil is b, or empty for nil: an empty value stored, not none (SQL
// drivers bind a nil []byte as NULL, and value columns are NOT NULL).
func NonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
