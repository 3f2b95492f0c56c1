package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// auditFlushEvery is the longest a read, listing or login event waits in
// memory before it is stored. Writes are stored with the write itself; a
// crash loses at most this window of the others (and the coalescing
// window of repeated reads).
const auditFlushEvery = 250 * time.Millisecond

// auditBatch holds the events that are not stored with a write, per owner,
// and stores them at most auditFlushEvery later, on Flush and at shutdown.
// Identical events of one batch (a node reading the same key again and
// again) are stored once, with their count and the first one's time.
//
// With a coalescing window, an event is stored as above and opens the
// window for its kind (same owner, action, keys, actor, job, IP, status):
// the identical events that follow within it wait and are stored together,
// as one event with their count and the last one's time, when the window
// closes. A reader hammering one key costs two events a window, not one
// per batch.
type auditBatch struct {
	log    storage.AuditLog
	warn   func(msg string, args ...any)
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	pending map[string][]audit.Event
	index   map[burstKey]int // position in pending[owner]
	open    map[burstKey]*coalesced
	timer   *time.Timer
}

// burstKey is what makes two events of one owner's batch the same.
type burstKey struct {
	owner, action, keys, actor, job, ip, reason string
	status                                      int
}

// coalesced is an open coalescing window and the events it holds back.
type coalesced struct {
	until time.Time
	held  *audit.Event // nil until a second event arrives
}

func (b *auditBatch) add(owner string, e audit.Event) {
	k := burstKey{owner, string(e.Action), strings.Join(e.Keys, "\x00"), e.Actor, e.Job, e.IP, e.Reason, e.Status}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string][]audit.Event{}
		b.index = map[burstKey]int{}
	}
	defer b.arm()
	if w := b.open[k]; w != nil {
		if e.Time.Before(w.until) {
			if w.held == nil {
				e.Count = 1
				w.held = &e
			} else {
				w.held.Count++
				w.held.Last = e.Time
			}
			return
		}
		// The window is over: what it held joins the batch.
		if w.held != nil {
			b.pending[owner] = append(b.pending[owner], *w.held)
		}
		delete(b.open, k)
	}
	if i, ok := b.index[k]; ok {
		b.pending[owner][i].Count++
		b.pending[owner][i].Last = e.Time
		return
	}
	e.Count = 1
	b.index[k] = len(b.pending[owner])
	b.pending[owner] = append(b.pending[owner], e)
	if b.window > 0 && e.Action != audit.Denied {
		if b.open == nil {
			b.open = map[burstKey]*coalesced{}
		}
		b.open[k] = &coalesced{until: e.Time.Add(b.window)}
	}
}

// arm starts the flush timer when something waits; b.mu is held.
func (b *auditBatch) arm() {
	if b.timer == nil && (len(b.pending) > 0 || len(b.open) > 0) {
		b.timer = time.AfterFunc(auditFlushEvery, func() { b.flush(context.Background(), "") })
	}
}

// flush stores the pending events of owner ("" for every owner, with the
// held events of the windows that closed; Flush and shutdown close them
// all through closeAll).
func (b *auditBatch) flush(ctx context.Context, owner string) { b.store(ctx, owner, false) }

func (b *auditBatch) store(ctx context.Context, owner string, closeAll bool) {
	b.mu.Lock()
	take := map[string][]audit.Event{}
	if owner == "" {
		take, b.pending, b.index = b.pending, nil, nil
		if take == nil {
			take = map[string][]audit.Event{}
		}
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
	} else if evs := b.pending[owner]; len(evs) > 0 {
		take[owner] = evs
		delete(b.pending, owner)
		for k := range b.index {
			if k.owner == owner {
				delete(b.index, k)
			}
		}
	}
	now := b.now()
	for k, w := range b.open {
		closed := closeAll || !now.Before(w.until)
		if owner != "" && k.owner != owner || !closed && (owner == "" || w.held == nil) {
			continue
		}
		if w.held != nil {
			take[k.owner] = append(take[k.owner], *w.held)
			w.held = nil
		}
		if closed {
			delete(b.open, k)
		}
	}
	if owner == "" {
		b.arm() // windows still open
	}
	b.mu.Unlock()
	for o, evs := range take {
		ctx, cancel := context.WithTimeout(ctx, storage.DefaultCallTimeout)
		if err := b.log.AppendAudit(ctx, o, evs); err != nil {
			b.warn("audit events lost: the store did not take them", "owner", o, "events", len(evs), "error", err.Error())
		}
		cancel()
	}
}

// event is the audit event of the request in c, as its caller made it.
func (s *Server) event(c echo.Context, action audit.Action, status int, keys ...string) audit.Event {
	e := audit.Event{Time: s.now(), Action: action, Keys: keys, IP: c.RealIP(), Status: status}
	if cl := claimsOf(c); cl != nil {
		e.Actor, e.Job = cl.Address, cl.Job
		if cl.Access != nil {
			e.Actor = cl.Access.Actor()
		}
	}
	return e
}

// record queues an event for the log of owner, when the store keeps logs.
func (s *Server) record(owner string, e audit.Event) {
	if s.audit != nil {
		s.audit.add(owner, e)
	}
}

// recordLogin puts a login in the log of the namespace the token reads.
func (s *Server) recordLogin(c echo.Context, cl auth.Claims) {
	e := s.event(c, audit.Login, 200)
	e.Actor, e.Job = cl.Address, cl.Job
	e.Keys = append([]string{}, cl.Secrets...)
	s.record(cl.ReadNamespace(), e)
}

// FlushAudit stores the audit events still in memory; Serve calls it at
// shutdown, after the last request.
func (s *Server) FlushAudit(ctx context.Context) {
	if s.audit != nil {
		s.audit.store(ctx, "", true)
	}
}

// recordRead, recordList and recordDenied log the legacy routes' reads.
func (s *Server) recordRead(c echo.Context, ns, key string) {
	s.record(ns, s.event(c, audit.Read, http.StatusOK, key))
}

func (s *Server) recordList(c echo.Context, ns string, list []storage.Secret) {
	if s.audit == nil {
		return
	}
	keys := make([]string, len(list))
	for i, sec := range list {
		keys[i] = sec.Name
	}
	s.record(ns, s.event(c, audit.List, http.StatusOK, keys...))
}

func (s *Server) recordDenied(c echo.Context, ns, key string) {
	s.record(ns, s.event(c, audit.Denied, http.StatusBadRequest, key))
}
