package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// WalkVersions implements storage.HistoryAdmin: a copy of every version
// (with a secret Put wrote outside the history as its name's newest) is
// taken under the lock, so fn may write.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	type ov struct {
		owner string
		v     storage.Version
	}
	var all []ov
	if err := s.read(ctx, func() {
		owners := map[string]bool{}
		for o := range s.hist.versions {
			owners[o] = true
		}
		for o := range s.owners {
			owners[o] = true
		}
		for _, o := range sortedKeys(owners) {
			names := map[string]bool{}
			for n := range s.hist.versions[o] {
				names[n] = true
			}
			if ns := s.owners[o]; ns != nil {
				for _, n := range ns.names {
					names[n] = true
				}
			}
			for _, n := range sortedKeys(names) {
				for _, v := range s.versionsOf(o, n) {
					all = append(all, ov{o, cloneVersion(v, true)})
				}
			}
		}
	}); err != nil {
		return err
	}
	for _, x := range all {
		if err := fn(x.owner, x.v); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SwapVersion implements storage.HistoryAdmin.
func (s *Store) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (ok bool, err error) {
	err = s.write(ctx, func() {
		kept := false
		for i, x := range s.hist.of(owner, name) {
			if x.Version != v {
				continue
			}
			kept = true
			if x.Deleted || string(x.Value) != string(old) {
				return
			}
			x.Value = slices.Clone(new)
			s.hist.versions[owner][name][i] = x
			ok = true
		}
		ns := s.owners[owner]
		if ns == nil {
			return
		}
		sec, found := ns.secrets[name]
		if !found || sec.Version != v || string(sec.Value) != string(old) || kept && !ok {
			return
		}
		sec.Value = slices.Clone(new)
		ns.secrets[name] = sec
		ok = true
	})
	return ok, err
}

// ImportVersions implements storage.HistoryAdmin, under one lock.
func (s *Store) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	var conflict error
	err := s.write(ctx, func() {
		for _, v := range vs {
			if _, last := s.live(owner, v.Name); last > 0 {
				conflict = fmt.Errorf("%w: %s already holds %q", storage.ErrInvalid, owner, v.Name)
				return
			}
		}
		var names []string // vs is sorted by name (Checked)
		for i, v := range vs {
			if i == 0 || vs[i-1].Name != v.Name {
				names = append(names, v.Name)
			}
		}
		// Counted, never refused: a restore puts back what was kept.
		s.counted(owner, names, func() { s.importVersions(owner, vs) })
	})
	if err == nil {
		err = conflict
	}
	return err
}

// importVersions is ImportVersions' writes; s.mu is held.
func (s *Store) importVersions(owner string, vs []storage.Version) {
	ns := s.owners[owner]
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Name == vs[i].Name {
			j++
		}
		name, kept := vs[i].Name, make([]storage.Version, 0, j-i)
		for _, v := range vs[i:j] {
			kept = append(kept, cloneVersion(v, true))
		}
		s.hist.set(owner, name, kept)
		if newest := kept[len(kept)-1]; !newest.Deleted {
			if ns == nil {
				ns = &namespace{secrets: map[string]storage.Secret{}}
				s.owners[owner] = ns
			}
			ns.secrets[name] = storage.Secret{Name: name, Value: slices.Clone(newest.Value), Version: newest.Version,
				CreatedAt: kept[0].CreatedAt, UpdatedAt: newest.CreatedAt}
			k, _ := slices.BinarySearch(ns.names, name)
			ns.names = slices.Insert(ns.names, k, name)
		}
		i = j
	}
}

// ImportAudit implements storage.HistoryAdmin.
func (s *Store) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	var conflict error
	err := s.write(ctx, func() {
		if len(s.hist.logs[owner]) > 0 {
			conflict = fmt.Errorf("%w: the audit log of %s is not empty", storage.ErrInvalid, owner)
			return
		}
		if s.hist.logs == nil {
			s.hist.logs = map[string][]audit.Event{}
		}
		log := make([]audit.Event, len(events))
		u := s.usage[owner]
		for i, e := range events {
			e.Keys = slices.Clone(e.Keys)
			log[i] = e
			u.AuditBytes += audit.StoredSize(e)
		}
		s.hist.logs[owner] = log
		s.setUsage(owner, u)
	})
	if err == nil {
		err = conflict
	}
	return err
}

// WalkAudit implements storage.HistoryAdmin, from a copy taken under the
// lock.
func (s *Store) WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error {
	logs := map[string][]audit.Event{}
	var owners []string
	if err := s.read(ctx, func() {
		for o, log := range s.hist.logs {
			logs[o] = slices.Clone(log)
			owners = append(owners, o)
		}
	}); err != nil {
		return err
	}
	sort.Strings(owners)
	for _, o := range owners {
		for _, e := range logs[o] {
			if err := fn(o, e); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}
