package storage

import (
	"context"
	"fmt"
)

// Quota bounds what one owner keeps; a zero field is no limit. It counts
// what is kept, not what is live: a soft-deleted name and every kept
// version take room until they are purged or destroyed.
type Quota struct {
	// Secrets bounds the names that hold at least one kept version.
	Secrets int64
	// Bytes bounds the sealed bytes of every kept version of every name.
	Bytes int64
	// AuditBytes bounds the owner's audit log (see AuditLog): past it, the
	// oldest events are trimmed; nothing is refused.
	AuditBytes int64
}

// Usage is what one owner keeps, counted as Quota counts it.
type Usage struct {
	Secrets int64
	Bytes   int64
	// AuditBytes is what the owner's audit log takes (audit.StoredSize of
	// each kept event).
	AuditBytes int64
}

// Quota limits.
const (
	LimitSecrets = "secrets"
	LimitBytes   = "bytes"
)

// QuotaError is a write refused because it would take its owner past a
// limit; nothing of it was written.
type QuotaError struct {
	Limit string // LimitSecrets or LimitBytes
	Used  int64  // the owner's use of that limit before the write
	Max   int64  // the limit
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("storage: quota exceeded: %s %d of %d used", e.Limit, e.Used, e.Max)
}

// Quotas is a backend that counts use and enforces a Quota. The count is
// kept in the store, so every replica sees the same use, and it changes in
// the same transaction as the write that changes it.
//
// A write (Put or Commit) is refused with *QuotaError, whole, when it
// raises a measure past its limit; one that does not raise it (an
// overwrite with a value no larger, a delete) always goes through, so an
// owner over a lowered limit can still clean up.
type Quotas interface {
	// SetQuota sets the limits; call it before the store is shared.
	SetQuota(q Quota)
	// Usage returns what owner keeps.
	Usage(ctx context.Context, owner string) (Usage, error)
}

// CheckQuota reports the error for a write that takes use from before to
// after under q, or nil.
func CheckQuota(q Quota, before, after Usage) error {
	if q.Secrets > 0 && after.Secrets > before.Secrets && after.Secrets > q.Secrets {
		return &QuotaError{Limit: LimitSecrets, Used: before.Secrets, Max: q.Secrets}
	}
	if q.Bytes > 0 && after.Bytes > before.Bytes && after.Bytes > q.Bytes {
		return &QuotaError{Limit: LimitBytes, Used: before.Bytes, Max: q.Bytes}
	}
	return nil
}

// AuditTrimTarget is what an owner's audit log may keep, in bytes, once an
// append took it past quota (Quota.AuditBytes): the backend removes the
// oldest events until the log is at most this, then appends the quota trim
// event, which AuditTrimAllowance leaves room for, so the log ends at
// most three quarters of the quota and the next trim is far off.
func AuditTrimTarget(quota int64) int64 { return max(quota*3/4-AuditTrimAllowance, 0) }

// AuditTrimAllowance is more than the stored size of a signed quota trim
// event (about 480 bytes).
const AuditTrimAllowance = 640
