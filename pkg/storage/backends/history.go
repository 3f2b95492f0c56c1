package backends

import (
	"context"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The file lock passes history through to the cache below it.

func (l locked) lower() (storage.HistoryStore, error) {
	if h, ok := l.Store.(storage.HistoryStore); ok && storage.KeepsHistory(l.Store) {
		return h, nil
	}
	return nil, storage.ErrNoHistory
}

func (l locked) KeepsHistory() bool { return storage.KeepsHistory(l.Store) }

func (l locked) Commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	h, err := l.lower()
	if err != nil {
		return nil, err
	}
	return h.Commit(ctx, c)
}

func (l locked) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	h, err := l.lower()
	if err != nil {
		return storage.Version{}, err
	}
	return h.GetVersion(ctx, owner, name, v)
}

func (l locked) Versions(ctx context.Context, owner, name string) ([]storage.Version, error) {
	h, err := l.lower()
	if err != nil {
		return nil, err
	}
	return h.Versions(ctx, owner, name)
}

func (l locked) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	h, err := l.lower()
	if err != nil {
		return nil, err
	}
	return h.AsOf(ctx, owner, prefix, t)
}

func (l locked) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	h, err := l.lower()
	if err != nil {
		return err
	}
	return h.Destroy(ctx, owner, names, ev)
}

func (l locked) PurgeHistory(ctx context.Context, before time.Time) error {
	h, err := l.lower()
	if err != nil {
		return err
	}
	return h.PurgeHistory(ctx, before)
}

func (l locked) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := l.lower()
	if err != nil {
		return err
	}
	return h.AppendAudit(ctx, owner, events)
}

func (l locked) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	h, err := l.lower()
	if err != nil {
		return storage.AuditPage{}, err
	}
	return h.Audit(ctx, owner, q)
}

func (l locked) TrimAudit(ctx context.Context, before time.Time) error {
	h, err := l.lower()
	if err != nil {
		return err
	}
	return h.TrimAudit(ctx, before)
}

// The file lock passes quotas through too.

func (l locked) CountsQuota() bool { return storage.CountsQuota(l.Store) }

func (l locked) SetQuota(q storage.Quota) {
	if lq, err := storage.LowerQuotas(l.Store); err == nil {
		lq.SetQuota(q)
	}
}

func (l locked) Usage(ctx context.Context, owner string) (storage.Usage, error) {
	lq, err := storage.LowerQuotas(l.Store)
	if err != nil {
		return storage.Usage{}, err
	}
	return lq.Usage(ctx, owner)
}
