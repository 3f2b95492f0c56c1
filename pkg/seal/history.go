package seal

import (
	"context"
	"fmt"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

var _ storage.HistoryStore = (*Store)(nil)

// Every version is sealed as the current value is, for its owner and name,
// so a version copied to another owner or key does not open either.

func (s *Store) lower() (storage.HistoryStore, error) {
	if h, ok := s.Store.(storage.HistoryStore); ok && storage.KeepsHistory(s.Store) {
		return h, nil
	}
	return nil, storage.ErrNoHistory
}

// KeepsHistory reports whether the backend keeps versions and audit logs.
func (s *Store) KeepsHistory() bool { return storage.KeepsHistory(s.Store) }

func (s *Store) openVersion(owner string, v storage.Version) (storage.Version, error) {
	if v.Deleted || v.Value == nil {
		return v, nil
	}
	pt, err := s.kr.Open(owner, v.Name, v.Value)
	if err != nil {
		return storage.Version{}, fmt.Errorf("version %d of secret %q of %s: %w", v.Version, v.Name, owner, err)
	}
	if pt == nil {
		pt = []byte{}
	}
	v.Value = pt
	return v, nil
}

// Commit implements storage.History: new values are sealed on the way down.
func (s *Store) Commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	h, err := s.lower()
	if err != nil {
		return nil, err
	}
	changes := make([]storage.Change, len(c.Changes))
	for i, ch := range c.Changes {
		if !ch.Delete {
			if ch.Value, err = s.kr.Seal(c.Owner, ch.Name, ch.Value); err != nil {
				return nil, err
			}
		}
		changes[i] = ch
	}
	c.Changes = changes
	return h.Commit(s.signing(ctx), c)
}

// GetVersion implements storage.History, the value opened.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	h, err := s.lower()
	if err != nil {
		return storage.Version{}, err
	}
	ver, err := h.GetVersion(ctx, owner, name, v)
	if err != nil {
		return ver, err
	}
	return s.openVersion(owner, ver)
}

// Versions implements storage.History (no values).
func (s *Store) Versions(ctx context.Context, owner, name string) ([]storage.Version, error) {
	h, err := s.lower()
	if err != nil {
		return nil, err
	}
	return h.Versions(ctx, owner, name)
}

// AsOf implements storage.History, the values opened.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	h, err := s.lower()
	if err != nil {
		return nil, err
	}
	vs, err := h.AsOf(ctx, owner, prefix, t)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		if vs[i], err = s.openVersion(owner, vs[i]); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// Destroy implements storage.History.
func (s *Store) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	h, err := s.lower()
	if err != nil {
		return err
	}
	return h.Destroy(s.signing(ctx), owner, names, ev)
}

// PurgeHistory implements storage.History.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) error {
	h, err := s.lower()
	if err != nil {
		return err
	}
	return h.PurgeHistory(ctx, before)
}

// AppendAudit implements storage.AuditLog. Events hold no values, so they
// are stored as they are.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	h, err := s.lower()
	if err != nil {
		return err
	}
	return h.AppendAudit(s.signing(ctx), owner, events)
}

// Audit implements storage.AuditLog.
func (s *Store) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	h, err := s.lower()
	if err != nil {
		return storage.AuditPage{}, err
	}
	return h.Audit(ctx, owner, q)
}

// TrimAudit implements storage.AuditLog.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	h, err := s.lower()
	if err != nil {
		return err
	}
	return h.TrimAudit(s.signing(ctx), before)
}
