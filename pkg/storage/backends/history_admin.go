package backends

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The file lock passes history maintenance through too.

func (l locked) admin() (storage.HistoryAdmin, error) {
	if h, ok := l.Store.(storage.HistoryAdmin); ok && storage.KeepsHistory(l.Store) {
		return h, nil
	}
	return nil, storage.ErrNoHistory
}

func (l locked) WalkVersions(ctx context.Context, fn func(string, storage.Version) error) error {
	h, err := l.admin()
	if err != nil {
		return err
	}
	return h.WalkVersions(ctx, fn)
}

func (l locked) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	h, err := l.admin()
	if err != nil {
		return false, err
	}
	return h.SwapVersion(ctx, owner, name, v, old, new)
}

func (l locked) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	h, err := l.admin()
	if err != nil {
		return err
	}
	return h.ImportVersions(ctx, owner, vs)
}

func (l locked) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := l.admin()
	if err != nil {
		return err
	}
	return h.ImportAudit(ctx, owner, events)
}

func (l locked) WalkAudit(ctx context.Context, fn func(string, audit.Event) error) error {
	w, ok := l.Store.(storage.AuditWalker)
	if !ok || !storage.KeepsHistory(l.Store) {
		return storage.ErrNoHistory
	}
	return w.WalkAudit(ctx, fn)
}
