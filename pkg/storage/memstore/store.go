// Package memstore is an in-memory storage.Store: for `serve --dev`, tests
// and the client's test server. Nothing persists past Close.
package memstore

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// sweepEvery is how many nonce or counter writes pass between sweeps of
// the expired ones, which bounds their memory.
const sweepEvery = 1024

var errClosed = errors.New("memstore: closed")

// Store is an in-memory storage.Store. It relies on storage.Checked for
// input validation, as every backend does.
type Store struct {
	mu       sync.RWMutex
	closed   bool
	owners   map[string]*namespace
	nonces   map[string]time.Time
	counters map[string]counter
	meta     map[string][]byte
	writes   int // nonce and counter writes since the last sweep
	hist     history
	quota    storage.Quota
	usage    map[string]storage.Usage // quota.go
}

type namespace struct {
	names   []string // sorted
	secrets map[string]storage.Secret
}

type counter struct {
	n       int64
	expires time.Time
}

var _ storage.Backend = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		owners:   map[string]*namespace{},
		nonces:   map[string]time.Time{},
		counters: map[string]counter{},
		meta:     map[string][]byte{},
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func clone(sec storage.Secret) storage.Secret {
	sec.Value = slices.Clone(sec.Value)
	if sec.Value == nil {
		sec.Value = []byte{}
	}
	return sec
}

// read runs fn under the read lock, after checking ctx and Close.
func (s *Store) read(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	fn()
	return nil
}

func (s *Store) write(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	fn()
	return nil
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, owner, name string) (sec storage.Secret, err error) {
	found := false
	if err := s.read(ctx, func() {
		if ns := s.owners[owner]; ns != nil {
			sec, found = ns.secrets[name]
			sec = clone(sec)
		}
	}); err != nil {
		return storage.Secret{}, err
	}
	if !found {
		return storage.Secret{}, storage.ErrNotFound
	}
	return sec, nil
}

// GetMany implements storage.Store.
func (s *Store) GetMany(ctx context.Context, owner string, names []string) ([]storage.Secret, error) {
	out := make([]storage.Secret, 0, len(names))
	err := s.read(ctx, func() {
		ns := s.owners[owner]
		if ns == nil {
			return
		}
		for _, n := range names { // sorted by Checked
			if sec, ok := ns.secrets[n]; ok {
				out = append(out, clone(sec))
			}
		}
	})
	return out, err
}

// List implements storage.Store: ListPage without a limit, a binary
// search for the prefix in the sorted names, so its cost grows with the
// result.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	return s.ListPage(ctx, owner, prefix, "", math.MaxInt)
}

// Put implements storage.Store, under one lock: atomic. A name new to
// the secrets starts at the version after its kept history.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	t := now()
	var refused error
	err := s.write(ctx, func() {
		before := s.usage[owner]
		after := before
		for _, it := range items {
			held, b := s.held(owner, it.Name)
			if !held {
				after.Secrets++
			}
			// What stays is the history; the new value comes on top.
			after.Bytes += int64(len(it.Value)) - b + s.histBytes(owner, it.Name)
		}
		if refused = storage.CheckQuota(s.quota, before, after); refused != nil {
			return
		}
		s.setUsage(owner, after)
		ns := s.owners[owner]
		if ns == nil {
			ns = &namespace{secrets: map[string]storage.Secret{}}
			s.owners[owner] = ns
		}
		for _, it := range items {
			sec, ok := ns.secrets[it.Name]
			if !ok {
				_, last := s.live(owner, it.Name)
				sec = storage.Secret{Name: it.Name, CreatedAt: t, Version: last}
				i, _ := slices.BinarySearch(ns.names, it.Name)
				ns.names = slices.Insert(ns.names, i, it.Name)
			}
			sec.Value = slices.Clone(it.Value)
			sec.Version++
			sec.UpdatedAt = t
			ns.secrets[it.Name] = sec
		}
	})
	if err == nil {
		err = refused
	}
	return err
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, owner string, names []string) error {
	return s.write(ctx, func() {
		ns := s.owners[owner]
		if ns == nil {
			return
		}
		s.counted(owner, names, func() {
			for _, n := range names {
				if _, ok := ns.secrets[n]; !ok {
					continue
				}
				delete(ns.secrets, n)
				if i, found := slices.BinarySearch(ns.names, n); found {
					ns.names = slices.Delete(ns.names, i, i+1)
				}
			}
			if len(ns.secrets) == 0 {
				delete(s.owners, owner)
			}
		})
	})
}

// Walk implements storage.Store. It visits a snapshot of the names, so fn
// may write; a secret deleted meanwhile is skipped.
func (s *Store) Walk(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	type key struct{ owner, name string }
	var keys []key
	if err := s.read(ctx, func() {
		for o, ns := range s.owners {
			for _, n := range ns.names {
				keys = append(keys, key{o, n})
			}
		}
	}); err != nil {
		return err
	}
	for _, k := range keys {
		sec, err := s.Get(ctx, k.owner, k.name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(k.owner, sec); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot implements storage.Walker: Walk, which holds the read lock
// per owner, not across the store.
func (s *Store) Snapshot(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	return s.Walk(ctx, fn)
}

// Swap implements storage.Store.
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (ok bool, err error) {
	err = s.write(ctx, func() {
		ns := s.owners[owner]
		if ns == nil {
			return
		}
		sec, found := ns.secrets[name]
		if !found || string(sec.Value) != string(old) {
			return
		}
		s.counted(owner, []string{name}, func() {
			sec.Value = slices.Clone(new)
			ns.secrets[name] = sec
		})
		ok = true
	})
	return ok, err
}

// sweep drops expired nonces and counters now and then; s.mu is held.
func (s *Store) sweep(t time.Time) {
	if s.writes++; s.writes < sweepEvery {
		return
	}
	s.writes = 0
	for k, exp := range s.nonces {
		if !exp.After(t) {
			delete(s.nonces, k)
		}
	}
	for k, c := range s.counters {
		if !c.expires.After(t) {
			delete(s.counters, k)
		}
	}
}

// UseNonce implements storage.Store.
func (s *Store) UseNonce(ctx context.Context, nonce string, expires time.Time) (fresh bool, err error) {
	t := time.Now()
	err = s.write(ctx, func() {
		s.sweep(t)
		if exp, ok := s.nonces[nonce]; ok && exp.After(t) {
			return
		}
		s.nonces[nonce] = expires
		fresh = true
	})
	return fresh, err
}

// Incr implements storage.Store.
func (s *Store) Incr(ctx context.Context, key string, n int64, expires time.Time) (total int64, err error) {
	t := time.Now()
	err = s.write(ctx, func() {
		s.sweep(t)
		c, ok := s.counters[key]
		if !ok || !c.expires.After(t) {
			c = counter{expires: expires}
		}
		c.n += n
		s.counters[key] = c
		total = c.n
	})
	return total, err
}

// GetMeta implements storage.Store.
func (s *Store) GetMeta(ctx context.Context, key string) (v []byte, err error) {
	found := false
	if err := s.read(ctx, func() { v, found = s.meta[key] }); err != nil {
		return nil, err
	}
	if !found {
		return nil, storage.ErrNotFound
	}
	return slices.Clone(v), nil
}

// InitMeta implements storage.Store.
func (s *Store) InitMeta(ctx context.Context, key string, value []byte) (stored []byte, err error) {
	err = s.write(ctx, func() {
		if _, ok := s.meta[key]; !ok {
			s.meta[key] = slices.Clone(value)
		}
		stored = slices.Clone(s.meta[key])
	})
	return stored, err
}

// PutMeta implements storage.Store.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	return s.write(ctx, func() { s.meta[key] = slices.Clone(value) })
}

// Ping implements storage.Store; it fails once the store is closed.
func (s *Store) Ping(ctx context.Context) error { return s.read(ctx, func() {}) }

// Close implements storage.Store. The data is gone.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.owners, s.nonces, s.counters, s.meta, s.usage = nil, nil, nil, nil, nil
	return nil
}
