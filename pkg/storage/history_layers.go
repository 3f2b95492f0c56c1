package storage

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// KeepsHistory reports whether the backend under every layer of s keeps
// versions and audit logs (HistoryStore). Layers implement History by
// passing down, so asserting the interface says nothing about the backend.
func KeepsHistory(s any) bool {
	k, ok := s.(interface{ KeepsHistory() bool })
	return ok && k.KeepsHistory()
}

// lowerHistory is the HistoryStore under a layer, or ErrNoHistory.
func lowerHistory(s Store) (HistoryStore, error) {
	if h, ok := s.(HistoryStore); ok && KeepsHistory(s) {
		return h, nil
	}
	return nil, ErrNoHistory
}

// KeepsHistory implements the probe of KeepsHistory.
func (c *Checked) KeepsHistory() bool { return KeepsHistory(c.Store) }

// checkCommit validates a commit once: an owner and names every backend
// stores, each name once, a CAS of NoCAS or more, values never nil.
func checkCommit(cm Commit) (Commit, error) {
	if err := CheckName("owner", cm.Owner); err != nil {
		return cm, err
	}
	seen := make(map[string]bool, len(cm.Changes))
	changes := make([]Change, len(cm.Changes))
	for i, ch := range cm.Changes {
		if err := CheckName("name", ch.Name); err != nil {
			return cm, err
		}
		if seen[ch.Name] {
			return cm, fmt.Errorf("%w: name %q twice in one commit", ErrInvalid, ch.Name)
		}
		seen[ch.Name] = true
		if ch.CAS < NoCAS {
			return cm, fmt.Errorf("%w: check-and-set version %d", ErrInvalid, ch.CAS)
		}
		ch.Value = NonNil(ch.Value)
		if ch.Delete {
			ch.Value = nil
		}
		changes[i] = ch
	}
	cm.Changes = changes
	if cm.Keep < 0 {
		cm.Keep = 0
	}
	return cm, nil
}

// Commit implements History.
func (c *Checked) Commit(ctx context.Context, cm Commit) ([]int64, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	if cm, err = checkCommit(cm); err != nil {
		return nil, err
	}
	if len(cm.Changes) == 0 && cm.Event == nil {
		return []int64{}, ctx.Err()
	}
	return h.Commit(ctx, cm)
}

// GetVersion implements History.
func (c *Checked) GetVersion(ctx context.Context, owner, name string, v int64) (Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return Version{}, err
	}
	if !validOwnerName(owner, name) || v < 0 {
		return Version{}, ErrNotFound
	}
	return h.GetVersion(ctx, owner, name, v)
}

// Versions implements History.
func (c *Checked) Versions(ctx context.Context, owner, name string) ([]Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	if !validOwnerName(owner, name) {
		return nil, ErrNotFound
	}
	return h.Versions(ctx, owner, name)
}

// AsOf implements History.
func (c *Checked) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	if CheckName("owner", owner) != nil || !ValidPrefix(prefix) {
		return []Version{}, ctx.Err()
	}
	return h.AsOf(ctx, owner, prefix, t)
}

// Destroy implements History.
func (c *Checked) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	names = ValidNames(names)
	if CheckName("owner", owner) != nil || len(names) == 0 && ev == nil {
		return ctx.Err()
	}
	return h.Destroy(ctx, owner, names, ev)
}

// PurgeHistory implements History.
func (c *Checked) PurgeHistory(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	return h.PurgeHistory(ctx, before)
}

// AppendAudit implements AuditLog.
func (c *Checked) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	if err := CheckName("owner", owner); err != nil {
		return err
	}
	if len(events) == 0 {
		return ctx.Err()
	}
	return h.AppendAudit(ctx, owner, events)
}

// Audit implements AuditLog: a query no event can match (an invalid owner,
// key or action, a limit below 1, a Before of 1) is an empty last page
// without a store call; Limit is capped at AuditPageMax and Before at the
// largest seq a backend stores (2^63-1).
func (c *Checked) Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return AuditPage{}, err
	}
	if CheckName("owner", owner) != nil || q.Limit <= 0 || q.Before == 1 ||
		q.Key != "" && CheckName("key", q.Key) != nil || q.Action != "" && !q.Action.Valid() ||
		!q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return AuditPage{Events: []audit.Event{}}, ctx.Err()
	}
	q.Limit = min(q.Limit, AuditPageMax)
	if q.Before > math.MaxInt64 {
		q.Before = 0
	}
	return h.Audit(ctx, owner, q)
}

// TrimAudit implements AuditLog.
func (c *Checked) TrimAudit(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	return h.TrimAudit(ctx, before)
}

// The read cache passes history through; what writes the current value
// (Commit, Destroy) evicts the names it touches, as Put does.

// KeepsHistory implements the probe of KeepsHistory.
func (c *Cache) KeepsHistory() bool { return KeepsHistory(c.Store) }

// Commit implements History.
func (c *Cache) Commit(ctx context.Context, cm Commit) (out []int64, err error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	names := func(yield func(string) bool) {
		for _, ch := range cm.Changes {
			if !yield(ch.Name) {
				return
			}
		}
	}
	err = c.write(cm.Owner, names, func() error {
		out, err = h.Commit(ctx, cm)
		return err
	})
	return out, err
}

// Destroy implements History.
func (c *Cache) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	seq := func(yield func(string) bool) {
		for _, n := range names {
			if !yield(n) {
				return
			}
		}
	}
	return c.write(owner, seq, func() error { return h.Destroy(ctx, owner, names, ev) })
}

// GetVersion implements History.
func (c *Cache) GetVersion(ctx context.Context, owner, name string, v int64) (Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return Version{}, err
	}
	return h.GetVersion(ctx, owner, name, v)
}

// Versions implements History.
func (c *Cache) Versions(ctx context.Context, owner, name string) ([]Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	return h.Versions(ctx, owner, name)
}

// AsOf implements History.
func (c *Cache) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return nil, err
	}
	return h.AsOf(ctx, owner, prefix, t)
}

// PurgeHistory implements History.
func (c *Cache) PurgeHistory(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	return h.PurgeHistory(ctx, before)
}

// AppendAudit implements AuditLog.
func (c *Cache) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	return h.AppendAudit(ctx, owner, events)
}

// Audit implements AuditLog.
func (c *Cache) Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error) {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return AuditPage{}, err
	}
	return h.Audit(ctx, owner, q)
}

// TrimAudit implements AuditLog.
func (c *Cache) TrimAudit(ctx context.Context, before time.Time) error {
	h, err := lowerHistory(c.Store)
	if err != nil {
		return err
	}
	return h.TrimAudit(ctx, before)
}
