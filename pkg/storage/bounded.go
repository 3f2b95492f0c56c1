package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// ErrTimeout is wrapped by the error of a call that the Bounded layer cut
// short: the store did not answer within its call timeout. A server answers
// it 503.
var ErrTimeout = errors.New("storage: no answer in time")

// DefaultCallTimeout bounds each store call of a Bounded layer by default.
const DefaultCallTimeout = 10 * time.Second

// Bounded gives every request-path call a deadline of at most Timeout, so a store that hangs (a stopped
// server, a frozen network) fails a request instead of holding it for
// ever. The call returns at the deadline even when a driver is slow to
// notice it (the MongoDB driver may wait seconds more on a connection);
// the driver's own call then ends on its own. A call cut short returns an
// error wrapping ErrTimeout; like any timeout, it says nothing about
// whether a write landed.
//
// Maintenance that reads or writes the whole store (Walk, Snapshot,
// WalkVersions, WalkAudit, the imports, the purges, SetQuota) passes
// through without one.
type Bounded struct {
	Backend
	Timeout time.Duration
	// Unavailable, when set, picks the errors of the backend that say it is
	// out of reach (see ErrUnavailable).
	Unavailable func(error) bool
}

// Bound wraps s in a Bounded layer with timeout d (DefaultCallTimeout when
// d is 0 or less).
func Bound(s Backend, d time.Duration) *Bounded {
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return &Bounded{Backend: s, Timeout: d}
}

// bound returns ctx with the layer's deadline, unless ctx ends sooner.
func (b *Bounded) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= b.Timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.Timeout)
}

// done maps the error of a call made with ctx: one that ended with the
// deadline, or that the driver reports as a timeout, wraps ErrTimeout; one
// that Unavailable picks wraps ErrUnavailable.
func (b *Bounded) done(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var te interface{ Timeout() bool }
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &te) && te.Timeout() {
		return fmt.Errorf("%w (%s): %w", ErrTimeout, b.Timeout, err)
	}
	if b.Unavailable != nil && b.Unavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// call runs f with the layer's deadline and returns by that deadline.
func call[T any](b *Bounded, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		ch <- result{v, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		select {
		case r = <-ch: // it finished as the deadline came
		default:
			r.err = ctx.Err()
		}
	}
	return r.v, b.done(ctx, r.err)
}

// call0 is call for a function without a result.
func call0(b *Bounded, ctx context.Context, f func(context.Context) error) error {
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// Get implements Secrets.
func (b *Bounded) Get(ctx context.Context, owner, name string) (Secret, error) {
	return call(b, ctx, func(ctx context.Context) (Secret, error) { return b.Backend.Get(ctx, owner, name) })
}

// GetMany implements Secrets.
func (b *Bounded) GetMany(ctx context.Context, owner string, names []string) ([]Secret, error) {
	return call(b, ctx, func(ctx context.Context) ([]Secret, error) { return b.Backend.GetMany(ctx, owner, names) })
}

// List implements Secrets.
func (b *Bounded) List(ctx context.Context, owner, prefix string) ([]Secret, error) {
	return call(b, ctx, func(ctx context.Context) ([]Secret, error) { return b.Backend.List(ctx, owner, prefix) })
}

// ListPage implements Secrets.
func (b *Bounded) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	return call(b, ctx, func(ctx context.Context) ([]Secret, error) {
		return b.Backend.ListPage(ctx, owner, prefix, after, limit)
	})
}

// ListValues implements ValueLister.
func (b *Bounded) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	return call(b, ctx, func(ctx context.Context) ([]Secret, error) {
		return b.Backend.ListValues(ctx, owner, prefix, after, limit)
	})
}

// Put implements Secrets.
func (b *Bounded) Put(ctx context.Context, owner string, items []Item) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.Put(ctx, owner, items) })
}

// Delete implements Secrets.
func (b *Bounded) Delete(ctx context.Context, owner string, names []string) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.Delete(ctx, owner, names) })
}

// UseNonce implements Ephemeral.
func (b *Bounded) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	return call(b, ctx, func(ctx context.Context) (bool, error) { return b.Backend.UseNonce(ctx, nonce, expires) })
}

// Incr implements Ephemeral.
func (b *Bounded) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	return call(b, ctx, func(ctx context.Context) (int64, error) { return b.Backend.Incr(ctx, key, n, expires) })
}

// Swap implements Walker.
func (b *Bounded) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	return call(b, ctx, func(ctx context.Context) (bool, error) { return b.Backend.Swap(ctx, owner, name, old, new) })
}

// GetMeta implements Meta.
func (b *Bounded) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return call(b, ctx, func(ctx context.Context) ([]byte, error) { return b.Backend.GetMeta(ctx, key) })
}

// InitMeta implements Meta.
func (b *Bounded) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	return call(b, ctx, func(ctx context.Context) ([]byte, error) { return b.Backend.InitMeta(ctx, key, value) })
}

// PutMeta implements Meta.
func (b *Bounded) PutMeta(ctx context.Context, key string, value []byte) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.PutMeta(ctx, key, value) })
}

// Ping implements Store.
func (b *Bounded) Ping(ctx context.Context) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.Ping(ctx) })
}

// Commit implements History.
func (b *Bounded) Commit(ctx context.Context, cm Commit) ([]int64, error) {
	return call(b, ctx, func(ctx context.Context) ([]int64, error) { return b.Backend.Commit(ctx, cm) })
}

// GetVersion implements History.
func (b *Bounded) GetVersion(ctx context.Context, owner, name string, v int64) (Version, error) {
	return call(b, ctx, func(ctx context.Context) (Version, error) { return b.Backend.GetVersion(ctx, owner, name, v) })
}

// Versions implements History.
func (b *Bounded) Versions(ctx context.Context, owner, name string) ([]Version, error) {
	return call(b, ctx, func(ctx context.Context) ([]Version, error) { return b.Backend.Versions(ctx, owner, name) })
}

// AsOf implements History.
func (b *Bounded) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]Version, error) {
	return call(b, ctx, func(ctx context.Context) ([]Version, error) { return b.Backend.AsOf(ctx, owner, prefix, t) })
}

// Destroy implements History.
func (b *Bounded) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.Destroy(ctx, owner, names, ev) })
}

// AppendAudit implements AuditLog.
func (b *Bounded) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	return call0(b, ctx, func(ctx context.Context) error { return b.Backend.AppendAudit(ctx, owner, events) })
}

// Audit implements AuditLog.
func (b *Bounded) Audit(ctx context.Context, owner string, q AuditQuery) (AuditPage, error) {
	return call(b, ctx, func(ctx context.Context) (AuditPage, error) { return b.Backend.Audit(ctx, owner, q) })
}

// SwapVersion implements HistoryAdmin, under the deadline as Swap is.
func (b *Bounded) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	return call(b, ctx, func(ctx context.Context) (bool, error) {
		return b.Backend.SwapVersion(ctx, owner, name, v, old, new)
	})
}

// Usage implements Quotas.
func (b *Bounded) Usage(ctx context.Context, owner string) (Usage, error) {
	return call(b, ctx, func(ctx context.Context) (Usage, error) { return b.Backend.Usage(ctx, owner) })
}
