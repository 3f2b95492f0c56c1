package storage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

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

// SwapVersion implements HistoryAdmin.
func (c *Checked) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	if !validOwnerName(owner, name) || v < 1 {
		return false, ctx.Err()
	}
	return c.Backend.SwapVersion(ctx, owner, name, v, NonNil(old), NonNil(new))
}

// ImportVersions implements HistoryAdmin.
func (c *Checked) ImportVersions(ctx context.Context, owner string, vs []Version) error {
	vs, err := checkImport(owner, vs)
	if err != nil || len(vs) == 0 {
		return err
	}
	return c.Backend.ImportVersions(ctx, owner, vs)
}

// ImportAudit implements HistoryAdmin.
func (c *Checked) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	if err := checkImportAudit(owner, events); err != nil || len(events) == 0 {
		return err
	}
	return c.Backend.ImportAudit(ctx, owner, events)
}

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
	cm, err := checkCommit(cm)
	if err != nil {
		return nil, err
	}
	if len(cm.Changes) == 0 && cm.Event == nil {
		return []int64{}, ctx.Err()
	}
	return c.Backend.Commit(ctx, cm)
}

// GetVersion implements History.
func (c *Checked) GetVersion(ctx context.Context, owner, name string, v int64) (Version, error) {
	if !validOwnerName(owner, name) || v < 0 {
		return Version{}, ErrNotFound
	}
	return c.Backend.GetVersion(ctx, owner, name, v)
}

// Versions implements History.
func (c *Checked) Versions(ctx context.Context, owner, name string) ([]Version, error) {
	if !validOwnerName(owner, name) {
		return nil, ErrNotFound
	}
	return c.Backend.Versions(ctx, owner, name)
}

// AsOf implements History.
func (c *Checked) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error) {
	if CheckName("owner", owner) != nil || !ValidPrefix(prefix) {
		return []Version{}, ctx.Err()
	}
	return c.Backend.AsOf(ctx, owner, prefix, t)
}

// Destroy implements History.
func (c *Checked) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	names = ValidNames(names)
	if CheckName("owner", owner) != nil || len(names) == 0 && ev == nil {
		return ctx.Err()
	}
	return c.Backend.Destroy(ctx, owner, names, ev)
}

// AppendAudit implements AuditLog.
func (c *Checked) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	if err := CheckName("owner", owner); err != nil {
		return err
	}
	if len(events) == 0 {
		return ctx.Err()
	}
	return c.Backend.AppendAudit(ctx, owner, events)
}

// Audit implements AuditLog: a query no event can match (an invalid owner,
// key or action, a limit below 1, a Before of 1) is an empty last page
// without a store call; Limit is capped at AuditPageMax and Before at the
// largest seq a backend stores (2^63-1).
func (c *Checked) Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error) {
	if CheckName("owner", owner) != nil || q.Limit <= 0 || q.Before == 1 ||
		q.Key != "" && CheckName("key", q.Key) != nil || q.Action != "" && !q.Action.Valid() ||
		!q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return AuditPage{Events: []audit.Event{}}, ctx.Err()
	}
	q.Limit = min(q.Limit, AuditPageMax)
	if q.Before > math.MaxInt64 {
		q.Before = 0
	}
	return c.Backend.Audit(ctx, owner, q)
}

// SetQuota implements Quotas; a negative limit is no limit.
func (c *Checked) SetQuota(q Quota) {
	c.Backend.SetQuota(Quota{Secrets: max(q.Secrets, 0), Bytes: max(q.Bytes, 0), AuditBytes: max(q.AuditBytes, 0)})
}

// Usage implements Quotas.
func (c *Checked) Usage(ctx context.Context, owner string) (Usage, error) {
	if CheckName("owner", owner) != nil {
		return Usage{}, ctx.Err()
	}
	return c.Backend.Usage(ctx, owner)
}
