package seal

import (
	"context"
	"fmt"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Every version is sealed as the current value is, for its owner and name,
// so a version copied to another owner or key does not open either.

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
	var err error
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
	return s.Store.Commit(s.signing(ctx), c)
}

// GetVersion implements storage.History, the value opened.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	ver, err := s.Store.GetVersion(ctx, owner, name, v)
	if err != nil {
		return ver, err
	}
	return s.openVersion(owner, ver)
}

// AsOf implements storage.History, the values opened.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	vs, err := s.Store.AsOf(ctx, owner, prefix, t)
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
	return s.Store.Destroy(s.signing(ctx), owner, names, ev)
}

// AppendAudit implements storage.AuditLog. Events hold no values, so they
// are stored as they are.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	return s.Store.AppendAudit(s.signing(ctx), owner, events)
}

// TrimAudit implements storage.AuditLog.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	return s.Store.TrimAudit(s.signing(ctx), before)
}
