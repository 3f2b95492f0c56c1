package seal

import (
	"context"
	"fmt"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Versions are sealed for their owner and name only, not their number: a
// Commit's number is chosen by the backend inside its transaction, after
// the value was sealed, and the newest version's blob is also the current
// value's. A blob moved to another owner or name still does not open.

// WalkVersions implements storage.HistoryAdmin, values opened.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	return s.Store.WalkVersions(ctx, func(owner string, v storage.Version) error {
		v, err := s.openVersion(owner, v)
		if err != nil {
			return err
		}
		return fn(owner, v)
	})
}

// SwapVersion implements storage.HistoryAdmin on plaintext, as Swap does.
func (s *Store) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	read := func() ([]byte, []byte, error) {
		cur, err := s.Store.GetVersion(ctx, owner, name, v)
		if err == nil && cur.Deleted {
			err = storage.ErrNotFound // a tombstone has no value to swap
		}
		if err != nil {
			return nil, nil, err
		}
		pt, err := s.openVersion(owner, cur)
		return cur.Value, pt.Value, err
	}
	return s.swapPlain(owner, name, old, new, read, func(blob, next []byte) (bool, error) {
		return s.Store.SwapVersion(ctx, owner, name, v, blob, next)
	})
}

// ImportVersions implements storage.HistoryAdmin: values sealed on the way
// down with the newest key.
func (s *Store) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	var err error
	sealed := make([]storage.Version, len(vs))
	for i, v := range vs {
		if !v.Deleted {
			if v.Value, err = s.kr.Seal(owner, v.Name, v.Value); err != nil {
				return err
			}
		}
		sealed[i] = v
	}
	return s.Store.ImportVersions(ctx, owner, sealed)
}

// StaleVersion is a kept version sealed with a key other than the newest.
type StaleVersion struct {
	Owner   string
	Name    string
	Version int64
	sealed  []byte
}

// FindStaleVersions walks every kept version and returns how many hold a value and those sealed with an
// older key. Like FindStale it reads first and writes nothing.
func (s *Store) FindStaleVersions(ctx context.Context) (total int, stale []StaleVersion, err error) {
	err = s.Store.WalkVersions(ctx, func(owner string, v storage.Version) error {
		if v.Deleted {
			return ctx.Err()
		}
		total++
		if s.kr.NeedsRekey(v.Value) {
			stale = append(stale, StaleVersion{Owner: owner, Name: v.Name, Version: v.Version, sealed: v.Value})
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, nil, err
	}
	return total, stale, nil
}

// ResealVersion swaps one stale version for its reseal under the newest
// key (the current value with it, when it is the newest), unless it
// changed since FindStaleVersions read it. A value no key opens is ErrOpen.
func (s *Store) ResealVersion(ctx context.Context, st StaleVersion) (bool, error) {
	blob, err := s.reseal(st.Owner, st.Name, st.sealed)
	if err != nil {
		return false, err
	}
	ok, err := s.Store.SwapVersion(ctx, st.Owner, st.Name, st.Version, st.sealed, blob)
	if err != nil {
		return false, fmt.Errorf("version %d: %w", st.Version, err)
	}
	return ok, nil
}
