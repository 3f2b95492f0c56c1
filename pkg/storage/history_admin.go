package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// AuditWalker is a backend that can visit every owner's audit log, which
// backup needs for owners that hold no secret any more (their logins and
// destroys are still theirs). A backend without it has the logs of owners
// with secrets backed up only.
type AuditWalker interface {
	// WalkAudit calls fn for every event of every owner, each owner's
	// oldest first.
	WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error
}

// lowerAdmin is the HistoryAdmin under a layer, or ErrNoHistory.
func lowerAdmin(s Store) (HistoryAdmin, error) {
	if h, ok := s.(HistoryAdmin); ok && KeepsHistory(s) {
		return h, nil
	}
	return nil, ErrNoHistory
}

// walkAuditBelow is WalkAudit of the layer below, or ErrNoHistory.
func walkAuditBelow(ctx context.Context, s Store, fn func(string, audit.Event) error) error {
	w, ok := s.(AuditWalker)
	if !ok || !KeepsHistory(s) {
		return ErrNoHistory
	}
	return w.WalkAudit(ctx, fn)
}

// WalkAudit implements AuditWalker by passing down (unbounded: maintenance).
func (c *Checked) WalkAudit(ctx context.Context, fn func(string, audit.Event) error) error {
	return walkAuditBelow(ctx, c.Store, fn)
}

// WalkAudit implements AuditWalker.
func (b *Bounded) WalkAudit(ctx context.Context, fn func(string, audit.Event) error) error {
	return walkAuditBelow(ctx, b.Store, fn)
}

// WalkAudit implements AuditWalker.
func (c *Cache) WalkAudit(ctx context.Context, fn func(string, audit.Event) error) error {
	return walkAuditBelow(ctx, c.Store, fn)
}

// checkImport validates versions to import once: names every backend
// stores, numbers from 1, and sorts them by name and number, each number
// once per name; tombstones lose their values, values are never nil.
func checkImport(owner string, vs []Version) ([]Version, error) {
	if err := CheckName("owner", owner); err != nil {
		return nil, err
	}
	out := make([]Version, len(vs))
	for i, v := range vs {
		if err := CheckName("name", v.Name); err != nil {
			return nil, err
		}
		if v.Version < 1 {
			return nil, fmt.Errorf("%w: version %d of %q", ErrInvalid, v.Version, v.Name)
		}
		if v.Deleted {
			v.Value = nil
		} else {
			v.Value = NonNil(v.Value)
		}
		v.CreatedAt = v.CreatedAt.UTC()
		out[i] = v
	}
	slices.SortStableFunc(out, func(a, b Version) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name && out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%w: version %d of %q twice", ErrInvalid, out[i].Version, out[i].Name)
		}
	}
	return out, nil
}

// checkImportAudit validates a log to import: a valid owner and sequence
// numbers that only grow.
func checkImportAudit(owner string, events []audit.Event) error {
	if err := CheckName("owner", owner); err != nil {
		return err
	}
	for i := 1; i < len(events); i++ {
		if events[i].Seq <= events[i-1].Seq {
			return fmt.Errorf("%w: audit event %d after %d", ErrInvalid, events[i].Seq, events[i-1].Seq)
		}
	}
	return nil
}

// WalkVersions implements HistoryAdmin.
func (c *Checked) WalkVersions(ctx context.Context, fn func(string, Version) error) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	return h.WalkVersions(ctx, fn)
}

// SwapVersion implements HistoryAdmin.
func (c *Checked) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return false, err
	}
	if !validOwnerName(owner, name) || v < 1 {
		return false, ctx.Err()
	}
	return h.SwapVersion(ctx, owner, name, v, NonNil(old), NonNil(new))
}

// ImportVersions implements HistoryAdmin.
func (c *Checked) ImportVersions(ctx context.Context, owner string, vs []Version) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	if vs, err = checkImport(owner, vs); err != nil || len(vs) == 0 {
		return err
	}
	return h.ImportVersions(ctx, owner, vs)
}

// ImportAudit implements HistoryAdmin.
func (c *Checked) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	if err := checkImportAudit(owner, events); err != nil || len(events) == 0 {
		return err
	}
	return h.ImportAudit(ctx, owner, events)
}

// The Bounded layer passes maintenance through without a deadline, as it
// does Walk.

// WalkVersions implements HistoryAdmin.
func (b *Bounded) WalkVersions(ctx context.Context, fn func(string, Version) error) error {
	h, err := lowerAdmin(b.Store)
	if err != nil {
		return err
	}
	return h.WalkVersions(ctx, fn)
}

// SwapVersion implements HistoryAdmin, under the deadline as Swap is.
func (b *Bounded) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	h, err := lowerAdmin(b.Store)
	if err != nil {
		return false, err
	}
	return call(b, ctx, func(ctx context.Context) (bool, error) { return h.SwapVersion(ctx, owner, name, v, old, new) })
}

// ImportVersions implements HistoryAdmin.
func (b *Bounded) ImportVersions(ctx context.Context, owner string, vs []Version) error {
	h, err := lowerAdmin(b.Store)
	if err != nil {
		return err
	}
	return h.ImportVersions(ctx, owner, vs)
}

// ImportAudit implements HistoryAdmin.
func (b *Bounded) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerAdmin(b.Store)
	if err != nil {
		return err
	}
	return h.ImportAudit(ctx, owner, events)
}

// The read cache evicts what a swap or an import may change.

// WalkVersions implements HistoryAdmin.
func (c *Cache) WalkVersions(ctx context.Context, fn func(string, Version) error) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	return h.WalkVersions(ctx, fn)
}

// SwapVersion implements HistoryAdmin.
func (c *Cache) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (ok bool, err error) {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return false, err
	}
	one := func(yield func(string) bool) { yield(name) }
	err = c.write(owner, one, func() error {
		ok, err = h.SwapVersion(ctx, owner, name, v, old, new)
		return err
	})
	return ok, err
}

// ImportVersions implements HistoryAdmin.
func (c *Cache) ImportVersions(ctx context.Context, owner string, vs []Version) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	names := func(yield func(string) bool) {
		for _, v := range vs {
			if !yield(v.Name) {
				return
			}
		}
	}
	return c.write(owner, names, func() error { return h.ImportVersions(ctx, owner, vs) })
}

// ImportAudit implements HistoryAdmin.
func (c *Cache) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerAdmin(c.Store)
	if err != nil {
		return err
	}
	return h.ImportAudit(ctx, owner, events)
}
