package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is wrapped by the error of a call that the Bounded layer cut
// short: the store did not answer within its call timeout. A server answers
// it 503.
var ErrTimeout = errors.New("storage: no answer in time")

// DefaultCallTimeout bounds each store call of a Bounded layer by default.
const DefaultCallTimeout = 10 * time.Second

// Bounded gives every call but Walk (maintenance, which reads the whole
// store) a deadline of at most Timeout, so a store that hangs (a stopped
// server, a frozen network) fails a request instead of holding it for
// ever. The backends' drivers honour context deadlines. A call cut short
// returns an error wrapping ErrTimeout and the driver's error.
type Bounded struct {
	Store
	Timeout time.Duration
}

// Bound wraps s in a Bounded layer with timeout d (DefaultCallTimeout when
// d is 0 or less).
func Bound(s Store, d time.Duration) *Bounded {
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return &Bounded{Store: s, Timeout: d}
}

// bound returns ctx with the layer's deadline, unless ctx ends sooner.
func (b *Bounded) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= b.Timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.Timeout)
}

// done maps the error of a call made with ctx.
func (b *Bounded) done(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%w (%s): %w", ErrTimeout, b.Timeout, err)
	}
	return err
}

// Get implements Secrets.
func (b *Bounded) Get(ctx context.Context, owner, name string) (Secret, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	s, err := b.Store.Get(ctx, owner, name)
	return s, b.done(ctx, err)
}

// GetMany implements Secrets.
func (b *Bounded) GetMany(ctx context.Context, owner string, names []string) ([]Secret, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	s, err := b.Store.GetMany(ctx, owner, names)
	return s, b.done(ctx, err)
}

// List implements Secrets.
func (b *Bounded) List(ctx context.Context, owner, prefix string) ([]Secret, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	s, err := b.Store.List(ctx, owner, prefix)
	return s, b.done(ctx, err)
}

// Put implements Secrets.
func (b *Bounded) Put(ctx context.Context, owner string, items []Item) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.done(ctx, b.Store.Put(ctx, owner, items))
}

// Delete implements Secrets.
func (b *Bounded) Delete(ctx context.Context, owner string, names []string) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.done(ctx, b.Store.Delete(ctx, owner, names))
}

// UseNonce implements Ephemeral.
func (b *Bounded) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	ok, err := b.Store.UseNonce(ctx, nonce, expires)
	return ok, b.done(ctx, err)
}

// Incr implements Ephemeral.
func (b *Bounded) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	v, err := b.Store.Incr(ctx, key, n, expires)
	return v, b.done(ctx, err)
}

// Swap implements Walker.
func (b *Bounded) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	ok, err := b.Store.Swap(ctx, owner, name, old, new)
	return ok, b.done(ctx, err)
}

// GetMeta implements Meta.
func (b *Bounded) GetMeta(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	v, err := b.Store.GetMeta(ctx, key)
	return v, b.done(ctx, err)
}

// InitMeta implements Meta.
func (b *Bounded) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	v, err := b.Store.InitMeta(ctx, key, value)
	return v, b.done(ctx, err)
}

// PutMeta implements Meta.
func (b *Bounded) PutMeta(ctx context.Context, key string, value []byte) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.done(ctx, b.Store.PutMeta(ctx, key, value))
}

// Ping implements Store.
func (b *Bounded) Ping(ctx context.Context) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.done(ctx, b.Store.Ping(ctx))
}
