// Package deadline enforces the read and write deadlines of a listener's
// connections with one ticker for all of them, instead of the runtime timer
// each SetReadDeadline or SetWriteDeadline call arms, moves or stops.
//
// net/http moves a connection's deadlines six times a request when its
// server has ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout
// set; at tens of thousands of requests a second those timer operations
// cost about 5% of a small GET's CPU. Here a future deadline is only
// recorded, and the ticker expires it: it sets a past deadline on the
// connection, so a blocked Read or Write fails with the same timeout error
// it would have had. A deadline in the past, which net/http uses to
// interrupt a read at once, is passed through as it is. The price is
// precision: a deadline fires up to one tick late, never early. (Which
// deadlines have passed is judged by the time of the last tick, so a
// deadline that passed less than a tick ago also waits for the next one.)
package deadline

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// past is the deadline that makes a connection's I/O fail at once.
var past = time.Unix(1, 0)

// Listener wraps a net.Listener; its connections' deadlines are enforced
// by its ticker. Close it as the listener it wraps; the ticker stops once
// it is closed and its last connection is.
type Listener struct {
	net.Listener
	tick time.Duration

	clock atomic.Int64 // the last tick's time, in Unix nanoseconds

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
}

// NewListener wraps ln, with deadlines enforced every tick.
func NewListener(ln net.Listener, tick time.Duration) *Listener {
	l := &Listener{Listener: ln, tick: tick, conns: map[*conn]struct{}{}}
	l.clock.Store(time.Now().UnixNano())
	go l.run()
	return l
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// Close implements net.Listener.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *Listener) run() {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	for now := range t.C {
		if !l.expire(now) {
			return
		}
	}
}

// expire fires every deadline that has passed at now, and reports whether
// the ticker is still needed.
func (l *Listener) expire(now time.Time) bool {
	at := now.UnixNano()
	l.clock.Store(at)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.expire(at)
	}
	return !l.closed || len(l.conns) > 0
}

// Conns is how many of the listener's connections are open.
func (l *Listener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// conn is a net.Conn whose future deadlines are the ticker's to enforce.
type conn struct {
	net.Conn
	l *Listener

	mu          sync.Mutex
	read, write side
}

// side is one direction's deadline: at is the recorded one in Unix
// nanoseconds (0: none), hard whether the connection itself holds a past
// deadline (set by the caller or by the ticker) that a later one must clear.
type side struct {
	at   int64
	hard bool
}

// set records t as s's deadline, judged against the clock; apply sets one
// on the connection.
func (s *side) set(t time.Time, clock int64, apply func(time.Time) error) error {
	at := int64(0)
	if !t.IsZero() {
		if at = t.UnixNano(); at <= clock {
			s.at, s.hard = 0, true
			return apply(t)
		}
	}
	s.at = at
	if s.hard {
		s.hard = false
		return apply(time.Time{})
	}
	return nil
}

// expire fires s's deadline if it has passed at now.
func (s *side) expire(now int64, apply func(time.Time) error) {
	if s.at == 0 || now < s.at {
		return
	}
	s.at, s.hard = 0, true
	_ = apply(past) // an error means the connection is closed: nothing to interrupt
}

func (c *conn) expire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read.expire(now, c.Conn.SetReadDeadline)
	c.write.expire(now, c.Conn.SetWriteDeadline)
}

// SetReadDeadline implements net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error {
	clock := c.l.clock.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read.set(t, clock, c.Conn.SetReadDeadline)
}

// SetWriteDeadline implements net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error {
	clock := c.l.clock.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write.set(t, clock, c.Conn.SetWriteDeadline)
}

// SetDeadline implements net.Conn.
func (c *conn) SetDeadline(t time.Time) error {
	clock := c.l.clock.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.read.set(t, clock, c.Conn.SetReadDeadline), c.write.set(t, clock, c.Conn.SetWriteDeadline))
}

// Close implements net.Conn.
func (c *conn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when it can, as net/http asks of
// a TCP connection before it closes one it refused.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
