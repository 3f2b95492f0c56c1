package memstore

import (
	"context"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// SetQuota implements storage.Quotas. Use is counted whatever the quota.
func (s *Store) SetQuota(q storage.Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = q
}

// Usage implements storage.Quotas.
func (s *Store) Usage(ctx context.Context, owner string) (u storage.Usage, err error) {
	err = s.read(ctx, func() { u = s.usage[owner] })
	return u, err
}

// held reports whether name takes room, and its bytes: every kept
// version, and a current value that Put wrote outside the history.
func (s *Store) held(owner, name string) (bool, int64) {
	var n int64
	vs := s.versionsOf(owner, name)
	for _, v := range vs {
		n += int64(len(v.Value))
	}
	return len(vs) > 0, n
}

// counted runs fn, which changes names of owner, and counts the change;
// s.mu is held.
func (s *Store) counted(owner string, names []string, fn func()) {
	u := s.usage[owner]
	for _, n := range names {
		h, b := s.held(owner, n)
		if h {
			u.Secrets--
		}
		u.Bytes -= b
	}
	fn()
	for _, n := range names {
		h, b := s.held(owner, n)
		if h {
			u.Secrets++
		}
		u.Bytes += b
	}
	s.setUsage(owner, u)
}

func (s *Store) setUsage(owner string, u storage.Usage) {
	if s.usage == nil {
		s.usage = map[string]storage.Usage{}
	}
	if u == (storage.Usage{}) {
		delete(s.usage, owner)
		return
	}
	s.usage[owner] = u
}

// histBytes is the bytes of name's kept history alone.
func (s *Store) histBytes(owner, name string) int64 {
	var n int64
	for _, v := range s.hist.of(owner, name) {
		n += int64(len(v.Value))
	}
	return n
}
