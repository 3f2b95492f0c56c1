package fault

import (
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
)

// Freezer is a TCP proxy to a server that can stop passing bytes, both
// ways, while keeping every connection open: a server that hangs. Tests put
// it in front of a shared database they must not stop.
type Freezer struct {
	Addr string // host:port to dial instead of the server
	mu   sync.Mutex
	gate chan struct{} // closed while bytes flow
}

// StartFreezer proxies connections to upstream until the test ends.
func StartFreezer(t testing.TB, upstream string) *Freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Freezer{Addr: ln.Addr().String(), gate: make(chan struct{})}
	close(p.gate)
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		p.Thaw()
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				fmt.Fprintf(os.Stderr, "freezer: dial %s: %v\n", upstream, err)
				c.Close()
				continue
			}
			go p.pipe(c, u, done)
			go p.pipe(u, c, done)
		}
	}()
	return p
}

// pipe copies src to dst, holding each chunk while frozen.
func (p *Freezer) pipe(dst, src net.Conn, done chan struct{}) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			select {
			case <-gate:
			case <-done:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops passing bytes; connections stay open.
func (p *Freezer) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

// Thaw lets bytes flow again, held ones first.
func (p *Freezer) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}
