package storage

import (
	"context"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// The Bounded layer passes History and AuditLog down like the other layers,
// each request-path call under its deadline; the purges are maintenance
// and, like Walk, unbounded.

// KeepsHistory implements the probe of KeepsHistory.
func (b *Bounded) KeepsHistory() bool { return KeepsHistory(b.Store) }

// Commit implements History.
func (b *Bounded) Commit(ctx context.Context, cm Commit) ([]int64, error) {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return nil, err
	}
	return call(b, ctx, func(ctx context.Context) ([]int64, error) { return h.Commit(ctx, cm) })
}

// GetVersion implements History.
func (b *Bounded) GetVersion(ctx context.Context, owner, name string, v int64) (Version, error) {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return Version{}, err
	}
	return call(b, ctx, func(ctx context.Context) (Version, error) { return h.GetVersion(ctx, owner, name, v) })
}

// Versions implements History.
func (b *Bounded) Versions(ctx context.Context, owner, name string) ([]Version, error) {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return nil, err
	}
	return call(b, ctx, func(ctx context.Context) ([]Version, error) { return h.Versions(ctx, owner, name) })
}

// AsOf implements History.
func (b *Bounded) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error) {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return nil, err
	}
	return call(b, ctx, func(ctx context.Context) ([]Version, error) { return h.AsOf(ctx, owner, prefix, t) })
}

// Destroy implements History.
func (b *Bounded) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return err
	}
	return call0(b, ctx, func(ctx context.Context) error { return h.Destroy(ctx, owner, names, ev) })
}

// PurgeHistory implements History.
func (b *Bounded) PurgeHistory(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return err
	}
	return h.PurgeHistory(ctx, before)
}

// AppendAudit implements AuditLog.
func (b *Bounded) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return err
	}
	return call0(b, ctx, func(ctx context.Context) error { return h.AppendAudit(ctx, owner, events) })
}

// Audit implements AuditLog.
func (b *Bounded) Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error) {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return AuditPage{}, err
	}
	return call(b, ctx, func(ctx context.Context) (AuditPage, error) { return h.Audit(ctx, owner, q) })
}

// TrimAudit implements AuditLog.
func (b *Bounded) TrimAudit(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(b.Store)
	if err != nil {
		return err
	}
	return h.TrimAudit(ctx, before)
}
