package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// ErrDeleted is returned for the newest version of a secret that was
// soft-deleted: its history is kept, and restorable, until purged.
var ErrDeleted = errors.New("storage: deleted")

// NoCAS is a Change without a check-and-set.
const NoCAS = -1

// ConflictError is a check-and-set that did not hold; nothing was written.
type ConflictError struct {
	Name    string
	Current int64 // the newest live version; 0 when absent or deleted
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("storage: %s is at version %d", e.Name, e.Current)
}

// Writer is who wrote a version: an address, and the job of a job's write.
type Writer struct {
	Address string
	Job     string
}

// Version is one kept version of a secret. A tombstone (Deleted) records a
// soft delete and has no value.
type Version struct {
	Name      string
	Version   int64
	Value     []byte // nil in Versions listings and on a tombstone
	Deleted   bool
	CreatedAt time.Time
	By        Writer
}

// Change is one write of a Commit: a new value, or a tombstone.
type Change struct {
	Name   string
	Value  []byte
	Delete bool // write a tombstone; Value is ignored
	// CAS is NoCAS, 0 (the name must be absent or deleted), or the version
	// the newest live version must have.
	CAS int64
}

// Commit is one atomic write to an owner's history.
type Commit struct {
	Owner   string
	By      Writer
	Changes []Change
	// Event, when set, is linked into the owner's audit log and stored in
	// the same transaction as the changes.
	Event *audit.Event
	// Keep is how many versions per name to keep (older ones are removed in
	// the same transaction); 0 keeps all.
	Keep int
}

// History keeps every version of each secret, as issue 11 asks. The
// newest live version is also the secret that Secrets reads, so legacy
// reads cost what they did; writes through Commit keep both in step.
type History interface {
	// Commit applies c.Changes atomically, each as the next version of its
	// name. It returns the version each change wrote; a delete of a name
	// that is absent or deleted already writes nothing and returns 0. A CAS
	// that does not hold fails the whole commit with *ConflictError: of
	// writers racing with the same CAS, exactly one succeeds.
	Commit(ctx context.Context, c Commit) ([]int64, error)
	// GetVersion returns version v of name with its value, or the newest
	// when v is 0. It is ErrNotFound for a name or version that is not kept,
	// and ErrDeleted when the newest version (v = 0) is a tombstone; asking
	// for a tombstone by number returns it, Deleted and without value.
	GetVersion(ctx context.Context, owner, name string, v int64) (Version, error)
	// Versions returns the kept versions of name, newest first, without
	// values; ErrNotFound when there are none.
	Versions(ctx context.Context, owner, name string) ([]Version, error)
	// AsOf returns, for each name under prefix that had a version at t, the
	// newest version it had then (tombstones included), with values,
	// sorted by name.
	AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error)
	// Destroy removes every version of names for good, appending ev (when
	// set) to the owner's audit log in the same transaction.
	Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error
	// PurgeHistory removes, of every owner, the versions that are not the
	// newest of their name and were written before before, and the whole
	// history of names whose newest version is a tombstone written before
	// before.
	PurgeHistory(ctx context.Context, before time.Time) error
}

// AuditLog is each owner's audit trail (package audit): a hash chain that
// the backend links as it stores, so concurrent writers never fork it.
//
// Every method that appends (AppendAudit, and Commit and Destroy with an
// event, and the trims) links the events with audit.Link and signs the
// newest one it appends with audit.SignHead under the call's ctx, so a
// server holding the master key vouches for every head it wrote.
//
// Each owner's log is bounded: the backend counts the bytes of its events
// (audit.StoredSize) in the owner's Usage.AuditBytes, in the append's own
// transaction, and when an append takes them past Quota.AuditBytes it
// removes the owner's oldest events, down to three quarters of the quota,
// and appends an audit.QuotaTrim event, in the same transaction. An
// append is never refused for the quota.
type AuditLog interface {
	// AppendAudit links events after the owner's newest one and stores
	// them, in one transaction.
	AppendAudit(ctx context.Context, owner string, events []audit.Event) error
	// Audit answers one page of the owner's events that match q, newest
	// first, reading a bounded number of stored events (see AuditQuery).
	Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error)
	// TrimAudit removes every owner's events written before before, except
	// the newest, and appends to each log it trimmed an audit.RetentionTrim
	// event (with the retention now - before) so the log still verifies.
	TrimAudit(ctx context.Context, before time.Time) error
}

// AuditQuery selects events of one owner's log. The backend answers the
// Key and Action filters from an index, so a filter that matches nothing
// costs what one that matches everything does; time bounds narrow the
// scan too.
type AuditQuery struct {
	// Before: only events with seq below it; 0 means from the newest.
	Before uint64
	// Limit is the most events a page holds (1 to AuditPageMax).
	Limit int
	// Key: only events whose Keys hold this name ("": any).
	Key string
	// Action: only events of this action ("": any).
	Action audit.Action
	// Since and Until: only events with Since <= Time < Until (zero: open).
	Since, Until time.Time
}

// AuditPage is one page of an AuditQuery.
type AuditPage struct {
	Events []audit.Event
	// Next is the Before of the next page, 0 when the log has no older
	// event that could match. A page may hold fewer than Limit events, even
	// none, and still have a Next: the backend stops after AuditScanMax
	// candidate events.
	Next uint64
}

// Bounds of one Audit call.
const (
	AuditPageMax = 1000
	// AuditScanMax is the most stored events one call examines.
	AuditScanMax = 5000
)

// MatchAudit reports whether e passes q's filters (for backends that
// filter candidates read through an index).
func MatchAudit(q AuditQuery, e audit.Event) bool {
	if q.Action != "" && e.Action != q.Action {
		return false
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) || !q.Until.IsZero() && !e.Time.Before(q.Until) {
		return false
	}
	return q.Key == "" || slices.Contains(e.Keys, q.Key)
}

// SortVersions sorts versions by name, byte-wise.
func SortVersions(v []Version) {
	slices.SortFunc(v, func(a, b Version) int { return strings.Compare(a.Name, b.Name) })
}

// HistoryAdmin is what maintenance needs of the history:
// rekey re-seals every kept version, backup reads them all with the audit
// log, restore puts them back as they were.
type HistoryAdmin interface {
	// WalkVersions calls fn for every kept version of every owner, with its
	// value (tombstones without), each name's versions in ascending order.
	// fn may write.
	WalkVersions(ctx context.Context, fn func(owner string, v Version) error) error
	// SwapVersion replaces the value of version v of (owner, name) with new
	// only if it still equals old, and reports whether it did. Swapping the
	// newest version also swaps the value that Secrets reads.
	SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error)
	// ImportVersions stores vs as they are (numbers, times, writers) under
	// owner, for a restore into a namespace that holds none of their names;
	// the newest version of each name becomes what Secrets reads (none for
	// a tombstone). It is atomic per call.
	ImportVersions(ctx context.Context, owner string, vs []Version) error
	// ImportAudit stores events as they are (seq, times, hashes) into the
	// owner's log, which must be empty, so the chain verifies as before
	// (MongoDB without transactions also takes a log that holds exactly a
	// start of events, what a killed import left, and goes on from there).
	ImportAudit(ctx context.Context, owner string, events []audit.Event) error
	// WalkAudit calls fn for every event of every owner, each owner's
	// oldest first: backup needs the logs of owners that hold no secret
	// any more (their logins and destroys are still theirs).
	WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error
}

// ScanAudit answers q by reading the owner's events newest first through
// page (up to limit events with seq below before, newest first), filtering
// them here and stopping after AuditScanMax: a backend without an index
// for q's filters answers through it.
func ScanAudit(ctx context.Context, q AuditQuery, page func(before uint64, limit int) ([]audit.Event, error)) (AuditPage, error) {
	out := AuditPage{Events: []audit.Event{}}
	before, scanned := q.Before, 0
	for scanned < AuditScanMax {
		n := min(AuditScanMax-scanned, max(q.Limit, 100))
		if q.Key == "" && q.Action == "" && q.Since.IsZero() && q.Until.IsZero() {
			n = q.Limit - len(out.Events)
		}
		evs, err := page(before, n)
		if err != nil {
			return AuditPage{}, err
		}
		scanned += len(evs)
		for _, e := range evs {
			before = e.Seq
			if !q.Since.IsZero() && e.Time.Before(q.Since.Add(-AuditSkew)) {
				return out, nil // older events cannot match
			}
			if MatchAudit(q, e) {
				out.Events = append(out.Events, e)
				if len(out.Events) == q.Limit {
					if before > 1 {
						out.Next = before
					}
					return out, nil
				}
			}
		}
		if len(evs) < n || before <= 1 {
			return out, ctx.Err()
		}
	}
	out.Next = before
	return out, nil
}

// AuditSkew bounds how much older than the events after it an event's
// time may be: events are linked in the order they are stored, and a
// coalesced read is stored up to a coalescing window after its time.
const AuditSkew = time.Minute

// ReadAudit is the whole log of owner, oldest event first, read a page at
// a time: for maintenance (backup) and tests, not for a request.
func ReadAudit(ctx context.Context, log AuditLog, owner string) ([]audit.Event, error) {
	var out []audit.Event
	q := AuditQuery{Limit: AuditPageMax}
	for {
		p, err := log.Audit(ctx, owner, q)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Events...)
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	slices.Reverse(out)
	return out, nil
}
