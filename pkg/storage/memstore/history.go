package memstore

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// history is the store's versions and audit logs, under Store.mu.
type history struct {
	versions map[string]map[string][]storage.Version // owner → name → oldest first
	logs     map[string][]audit.Event                // owner → oldest first
}

func (h *history) of(owner, name string) []storage.Version {
	return h.versions[owner][name]
}

func (h *history) set(owner, name string, vs []storage.Version) {
	if h.versions == nil {
		h.versions = map[string]map[string][]storage.Version{}
	}
	m := h.versions[owner]
	if m == nil {
		m = map[string][]storage.Version{}
		h.versions[owner] = m
	}
	if len(vs) == 0 {
		delete(m, name)
		return
	}
	m[name] = vs
}

// appendAudit links events after owner's newest (after an adoption or a
// break when ctx's signer did not sign it: audit.Continue), signs the
// newest with ctx's signer, counts their bytes and, past the audit quota, trims the
// oldest (storage.AuditLog); s.mu is held.
func (s *Store) appendAudit(ctx context.Context, owner string, events []audit.Event) {
	s.appendContinued(ctx, owner, audit.Prepend(s.continuation(ctx, owner), events))
}

// continuation is audit.Continue on owner's log.
func (s *Store) continuation(ctx context.Context, owner string) *audit.Event {
	first, _ := audit.ContinueLog(ctx, owner, s.hist.logs[owner])
	return first
}

// appendContinued is appendAudit after audit.Continue (events start with
// its answer).
func (s *Store) appendContinued(ctx context.Context, owner string, events []audit.Event) {
	h := &s.hist
	if h.logs == nil {
		h.logs = map[string][]audit.Event{}
	}
	log := h.logs[owner]
	u := s.usage[owner]
	link := func(e audit.Event) {
		var head audit.Head
		if n := len(log); n > 0 {
			head = audit.Head{Seq: log[n-1].Seq, Hash: log[n-1].Hash}
		}
		e.Keys = slices.Clone(e.Keys)
		e, _ = audit.Link(head, e)
		log = append(log, e)
	}
	for _, e := range events {
		link(e)
	}
	newest := len(log) - 1
	audit.SignHead(ctx, owner, &log[newest])
	for _, e := range log[len(log)-len(events):] {
		u.AuditBytes += audit.StoredSize(e)
	}
	if q := s.quota.AuditBytes; q > 0 && u.AuditBytes > q {
		target, cut := storage.AuditTrimTarget(q), 0
		for cut < len(log)-len(events) && u.AuditBytes > target {
			u.AuditBytes -= audit.StoredSize(log[cut])
			cut++
		}
		if cut > 0 {
			log = slices.Clone(log[cut:])
			link(audit.QuotaTrim(now(), log[0].Seq, log[0].PrevHash))
			audit.SignHead(ctx, owner, &log[len(log)-1])
			u.AuditBytes += audit.StoredSize(log[len(log)-1])
		}
	}
	h.logs[owner] = log
	s.setUsage(owner, u)
}

// live is the newest live version of name (0 when absent or deleted) and
// the newest version number of any kind, counting a current secret
// written by Put outside the history.
func (s *Store) live(owner, name string) (live, last int64) {
	vs := s.hist.of(owner, name)
	if n := len(vs); n > 0 {
		last = vs[n-1].Version
		if !vs[n-1].Deleted {
			live = last
		}
	}
	if ns := s.owners[owner]; ns != nil {
		if sec, ok := ns.secrets[name]; ok && sec.Version > last {
			live, last = sec.Version, sec.Version
		}
	}
	return live, last
}

// Commit implements storage.History, under one lock: atomic.
func (s *Store) Commit(ctx context.Context, c storage.Commit) (out []int64, err error) {
	t := now()
	var conflict error
	err = s.write(ctx, func() {
		for _, ch := range c.Changes {
			if ch.CAS == storage.NoCAS {
				continue
			}
			if live, _ := s.live(c.Owner, ch.Name); live != ch.CAS {
				conflict = &storage.ConflictError{Name: ch.Name, Current: live}
				return
			}
		}
		// Plan every change and count it before writing any.
		before := s.usage[c.Owner]
		after := before
		plans := make([][]storage.Version, len(c.Changes))
		for i, ch := range c.Changes {
			live, last := s.live(c.Owner, ch.Name)
			if ch.Delete && live == 0 {
				continue
			}
			v := storage.Version{Name: ch.Name, Version: last + 1, CreatedAt: t, By: c.By, Deleted: ch.Delete}
			if !ch.Delete {
				v.Value = slices.Clone(ch.Value)
			}
			vs := append(slices.Clone(s.hist.of(c.Owner, ch.Name)), v)
			if c.Keep > 0 && len(vs) > c.Keep {
				vs = vs[len(vs)-c.Keep:]
			}
			plans[i] = vs
			held, b := s.held(c.Owner, ch.Name)
			if !held {
				after.Secrets++
			}
			after.Bytes -= b
			for _, v := range vs {
				after.Bytes += int64(len(v.Value))
			}
		}
		if conflict = storage.CheckQuota(s.quota, before, after); conflict != nil {
			return
		}
		s.setUsage(c.Owner, after)
		out = make([]int64, len(c.Changes))
		ns := s.owners[c.Owner]
		for i, ch := range c.Changes {
			vs := plans[i]
			if vs == nil {
				continue
			}
			v := vs[len(vs)-1]
			s.hist.set(c.Owner, ch.Name, vs)
			out[i] = v.Version

			if ns == nil {
				ns = &namespace{secrets: map[string]storage.Secret{}}
				s.owners[c.Owner] = ns
			}
			sec, exists := ns.secrets[ch.Name]
			switch {
			case ch.Delete:
				delete(ns.secrets, ch.Name)
				if j, found := slices.BinarySearch(ns.names, ch.Name); found {
					ns.names = slices.Delete(ns.names, j, j+1)
				}
			default:
				if !exists {
					sec = storage.Secret{Name: ch.Name, CreatedAt: t}
					j, _ := slices.BinarySearch(ns.names, ch.Name)
					ns.names = slices.Insert(ns.names, j, ch.Name)
				}
				sec.Value, sec.Version, sec.UpdatedAt = slices.Clone(ch.Value), v.Version, t
				ns.secrets[ch.Name] = sec
			}
		}
		if ns != nil && len(ns.secrets) == 0 {
			delete(s.owners, c.Owner)
		}
		if c.Event != nil {
			s.appendAudit(ctx, c.Owner, []audit.Event{*c.Event})
		}
	})
	if err == nil && conflict != nil {
		return nil, conflict
	}
	return out, err
}

func cloneVersion(v storage.Version, value bool) storage.Version {
	if value && !v.Deleted {
		v.Value = slices.Clone(v.Value)
		if v.Value == nil {
			v.Value = []byte{}
		}
	} else {
		v.Value = nil
	}
	return v
}

// versionsOf is name's history, with a current secret that Put wrote
// outside it as its newest version.
func (s *Store) versionsOf(owner, name string) []storage.Version {
	vs := s.hist.of(owner, name)
	var last int64
	if n := len(vs); n > 0 {
		last = vs[n-1].Version
	}
	if ns := s.owners[owner]; ns != nil {
		if sec, ok := ns.secrets[name]; ok && sec.Version > last {
			vs = append(slices.Clone(vs), storage.Version{Name: name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt})
		}
	}
	return vs
}

// GetVersion implements storage.History.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (out storage.Version, err error) {
	err = storage.ErrNotFound
	if rerr := s.read(ctx, func() {
		vs := s.versionsOf(owner, name)
		if len(vs) == 0 {
			return
		}
		if v == 0 {
			out = cloneVersion(vs[len(vs)-1], true)
			if out.Deleted {
				err = storage.ErrDeleted
				return
			}
			err = nil
			return
		}
		for _, x := range vs {
			if x.Version == v {
				out, err = cloneVersion(x, true), nil
				return
			}
		}
	}); rerr != nil {
		return storage.Version{}, rerr
	}
	return out, err
}

// Versions implements storage.History.
func (s *Store) Versions(ctx context.Context, owner, name string) (out []storage.Version, err error) {
	if err := s.read(ctx, func() {
		vs := s.versionsOf(owner, name)
		for i := len(vs) - 1; i >= 0; i-- {
			out = append(out, cloneVersion(vs[i], false))
		}
	}); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, storage.ErrNotFound
	}
	return out, nil
}

// AsOf implements storage.History.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) (out []storage.Version, err error) {
	out = []storage.Version{}
	err = s.read(ctx, func() {
		seen := map[string]bool{}
		add := func(name string) {
			if seen[name] || !strings.HasPrefix(name, prefix) {
				return
			}
			seen[name] = true
			vs := s.versionsOf(owner, name)
			for i := len(vs) - 1; i >= 0; i-- {
				if !vs[i].CreatedAt.After(t) {
					out = append(out, cloneVersion(vs[i], true))
					return
				}
			}
		}
		for name := range s.hist.versions[owner] {
			add(name)
		}
		if ns := s.owners[owner]; ns != nil {
			for _, name := range ns.names {
				add(name)
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Destroy implements storage.History.
func (s *Store) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	return s.write(ctx, func() {
		ns := s.owners[owner]
		s.counted(owner, names, func() {
			for _, n := range names {
				s.hist.set(owner, n, nil)
				if ns == nil {
					continue
				}
				delete(ns.secrets, n)
				if j, found := slices.BinarySearch(ns.names, n); found {
					ns.names = slices.Delete(ns.names, j, j+1)
				}
			}
			if ns != nil && len(ns.secrets) == 0 {
				delete(s.owners, owner)
			}
		})
		if ev != nil {
			s.appendAudit(ctx, owner, []audit.Event{*ev})
		}
	})
}

// PurgeHistory implements storage.History.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) error {
	return s.write(ctx, func() {
		for owner, m := range s.hist.versions {
			for name, vs := range m {
				s.counted(owner, []string{name}, func() {
					newest := vs[len(vs)-1]
					if newest.Deleted && newest.CreatedAt.Before(before) {
						delete(m, name)
						return
					}
					kept := slices.DeleteFunc(slices.Clone(vs[:len(vs)-1]), func(v storage.Version) bool {
						return v.CreatedAt.Before(before)
					})
					m[name] = append(kept, newest)
				})
			}
			if len(m) == 0 {
				delete(s.hist.versions, owner)
			}
		}
	})
}

// AppendAudit implements storage.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	return s.write(ctx, func() { s.appendAudit(ctx, owner, events) })
}

// auditRange is up to limit events with seq below before (0: from the
// newest), newest first.
func (s *Store) auditRange(ctx context.Context, owner string, before uint64, limit int) (out []audit.Event, err error) {
	out = []audit.Event{}
	err = s.read(ctx, func() {
		log := s.hist.logs[owner]
		for i := len(log) - 1; i >= 0 && len(out) < limit; i-- {
			if before == 0 || log[i].Seq < before {
				e := log[i]
				e.Keys = slices.Clone(e.Keys)
				out = append(out, e)
			}
		}
	})
	return out, err
}

// TrimAudit implements storage.AuditLog.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	return s.write(ctx, func() {
		for owner, log := range s.hist.logs {
			cut := 0
			for cut < len(log)-1 && log[cut].Time.Before(before) {
				cut++
			}
			if cut == 0 {
				continue
			}
			cont := s.continuation(ctx, owner) // before the signed events go
			kept := slices.Clone(log[cut:])
			u := s.usage[owner]
			for _, e := range log[:cut] {
				u.AuditBytes -= audit.StoredSize(e)
			}
			s.setUsage(owner, u)
			s.hist.logs[owner] = kept
			t := now()
			s.appendContinued(ctx, owner, audit.Prepend(cont, []audit.Event{audit.RetentionTrim(t, kept[0].Seq, kept[0].PrevHash, before, t.Sub(before))}))
		}
	})
}

// Audit implements storage.AuditLog.
func (s *Store) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	return storage.ScanAudit(ctx, q, func(before uint64, limit int) ([]audit.Event, error) {
		return s.auditRange(ctx, owner, before, limit)
	})
}
