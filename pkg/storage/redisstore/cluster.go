package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// transientPrefixes start the Redis errors of a node that cannot serve
// right now: a cluster or a sentinel group in the middle of a failover, a
// replica not yet promoted, a server loading its data.
var transientPrefixes = []string{"CLUSTERDOWN", "READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS", "MOVED", "ASK"}

// transient reports an error that says the store is unavailable for now
// (so a retry later may work), rather than that the request is wrong.
func transient(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return true
	}
	msg := err.Error()
	for _, p := range transientPrefixes {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return strings.HasPrefix(msg, "redis: all sentinels specified in configuration are unreachable") ||
		strings.HasPrefix(msg, "redis: cluster has no nodes")
}

// unavailable wraps a transient error in storage.ErrUnavailable.
func unavailable(err error) error {
	if transient(err) && !errors.Is(err, storage.ErrUnavailable) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// unavailableHook turns the transient errors of every command into errors
// wrapping storage.ErrUnavailable (a 503), after go-redis's own retries
// and redirects: a failover is not an internal error.
type unavailableHook struct{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if w := unavailable(err); w != err {
			cmd.SetErr(w)
			return w
		}
		return err
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if w := unavailable(c.Err()); w != c.Err() {
				c.SetErr(w)
			}
		}
		return unavailable(err)
	}
}

// writer returns the client a write to key goes through and the function
// that ends the write with the write's error. With WaitReplicas set, the
// write runs on one connection to the primary of key's slot and end sends
// WAIT on that connection: WAIT counts the replicas that have the writes of
// its own connection.
func (s *Store) writer(ctx context.Context, key string) (redis.Cmdable, func(error) error, error) {
	if s.wait <= 0 {
		return s.c, func(err error) error { return err }, nil
	}
	var node *redis.Client
	cluster, _ := s.c.(*redis.ClusterClient)
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, nil, unavailable(err)
		}
		node = n
	case *redis.Client:
		node = c
	default:
		return nil, nil, fmt.Errorf("redis: WAIT with a %T client", s.c)
	}
	conn := node.Conn()
	end := func(err error) error {
		defer conn.Close()
		if err == nil {
			err = s.waitReplicas(ctx, conn)
		}
		if err != nil && cluster != nil && transient(err) {
			// The pinned connection bypasses the cluster client, which would
			// have learnt of a new primary from this error.
			cluster.ReloadState(ctx)
		}
		return unavailable(err)
	}
	return conn, end, nil
}

// waitReplicas sends WAIT on conn; fewer replicas than asked is
// ErrUnavailable.
func (s *Store) waitReplicas(ctx context.Context, conn *redis.Conn) error {
	d := s.waitTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-20*time.Millisecond)
	}
	d = max(d, time.Millisecond) // WAIT 0 would block for ever
	n, err := conn.Wait(ctx, s.wait, d).Result()
	if err != nil {
		return err
	}
	if n < int64(s.wait) {
		return fmt.Errorf("%w: redis: the write reached %d of %d replicas within %s (WAIT); it may still be on the primary",
			storage.ErrUnavailable, n, s.wait, d)
	}
	return nil
}

// forEachPrimary calls fn with each primary: every master of a cluster, or
// the one server (the current master, behind sentinels).
func (s *Store) forEachPrimary(ctx context.Context, fn func(ctx context.Context, c redis.Cmdable) error) error {
	if c, ok := s.c.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	}
	return fn(ctx, s.c)
}

// Ping implements storage.Store: every primary answers (a cluster that has
// lost one cannot serve the owners of its slots).
func (s *Store) Ping(ctx context.Context) error {
	return unavailable(s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		return c.Ping(ctx).Err()
	}))
}

// scanKeys calls fn with every key matching pattern on every primary (a
// key may come twice: SCAN's guarantee).
func (s *Store) scanKeys(ctx context.Context, pattern string, fn func(key string)) error {
	var (
		mu   sync.Mutex
		keys []string
	)
	err := s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var mine []string
		for iter.Next(ctx) {
			mine = append(mine, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		mu.Lock()
		keys = append(keys, mine...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	for _, k := range keys {
		fn(k)
	}
	return nil
}
