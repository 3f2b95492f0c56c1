package storage

import (
	"context"
	"errors"
)

// ErrNoQuota is returned by Usage on a stack whose backend counts no use.
var ErrNoQuota = errors.New("storage: this backend counts no quota")

// CountsQuota reports whether the backend under every layer of s counts
// use and enforces a Quota. Layers implement Quotas by passing down, so
// asserting the interface says nothing about the backend.
func CountsQuota(s any) bool {
	if k, ok := s.(interface{ CountsQuota() bool }); ok {
		return k.CountsQuota()
	}
	_, ok := s.(Quotas)
	return ok
}

// LowerQuotas is the Quotas of the backend under a layer's store, or
// ErrNoQuota; for the layers outside this package.
func LowerQuotas(s Store) (Quotas, error) {
	if q, ok := s.(Quotas); ok && CountsQuota(s) {
		return q, nil
	}
	return nil, ErrNoQuota
}

// CountsQuota implements the probe of CountsQuota.
func (c *Checked) CountsQuota() bool { return CountsQuota(c.Store) }

// SetQuota implements Quotas; a negative limit is no limit.
func (c *Checked) SetQuota(q Quota) {
	if l, err := LowerQuotas(c.Store); err == nil {
		l.SetQuota(Quota{Secrets: max(q.Secrets, 0), Bytes: max(q.Bytes, 0)})
	}
}

// Usage implements Quotas.
func (c *Checked) Usage(ctx context.Context, owner string) (Usage, error) {
	l, err := LowerQuotas(c.Store)
	if err != nil {
		return Usage{}, err
	}
	if CheckName("owner", owner) != nil {
		return Usage{}, ctx.Err()
	}
	return l.Usage(ctx, owner)
}

// CountsQuota implements the probe of CountsQuota.
func (b *Bounded) CountsQuota() bool { return CountsQuota(b.Store) }

// SetQuota implements Quotas.
func (b *Bounded) SetQuota(q Quota) {
	if l, err := LowerQuotas(b.Store); err == nil {
		l.SetQuota(q)
	}
}

// Usage implements Quotas, under the call timeout.
func (b *Bounded) Usage(ctx context.Context, owner string) (Usage, error) {
	l, err := LowerQuotas(b.Store)
	if err != nil {
		return Usage{}, err
	}
	return call(b, ctx, func(ctx context.Context) (Usage, error) { return l.Usage(ctx, owner) })
}

// CountsQuota implements the probe of CountsQuota.
func (c *Cache) CountsQuota() bool { return CountsQuota(c.Store) }

// SetQuota implements Quotas.
func (c *Cache) SetQuota(q Quota) {
	if l, err := LowerQuotas(c.Store); err == nil {
		l.SetQuota(q)
	}
}

// Usage implements Quotas: always from the store, which keeps the count.
func (c *Cache) Usage(ctx context.Context, owner string) (Usage, error) {
	l, err := LowerQuotas(c.Store)
	if err != nil {
		return Usage{}, err
	}
	return l.Usage(ctx, owner)
}
