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

// ErrNoHistory is returned by the History methods of a stack whose backend
// keeps no history.
var ErrNoHistory = errors.New("storage: this backend keeps no version history")

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
type AuditLog interface {
	// AppendAudit links events after the owner's newest one and stores
	// them, in one transaction.
	AppendAudit(ctx context.Context, owner string, events []audit.Event) error
	// Audit returns up to limit of the owner's events with seq below
	// before (0: from the newest), newest first.
	Audit(ctx context.Context, owner string, before uint64, limit int) ([]audit.Event, error)
	// TrimAudit removes every owner's events written before before, except
	// the newest, and appends to each log it trimmed a trim event
	// (audit.TrimEvent) so the log still verifies.
	TrimAudit(ctx context.Context, before time.Time) error
}

// HistoryStore is a backend that keeps history and audit logs.
type HistoryStore interface {
	Store
	History
	AuditLog
}

// SortVersions sorts versions by name, byte-wise.
func SortVersions(v []Version) {
	slices.SortFunc(v, func(a, b Version) int { return strings.Compare(a.Name, b.Name) })
}

// HistoryAdmin is what maintenance needs of a backend that keeps history:
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
	// owner's log, which must be empty, so the chain verifies as before.
	ImportAudit(ctx context.Context, owner string, events []audit.Event) error
}
