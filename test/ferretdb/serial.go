package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// FerretDB v1 runs every update (findAndModify, upserts, $inc) as a read
// followed by a separate write, so two clients updating one document at
// once lose a write. MongoDB makes each single-document write atomic. The
// front below gives FerretDB that guarantee the bluntest way: it passes the
// wire protocol through unchanged, but lets one write command (insert,
// update, delete, findAndModify) run at a time across all connections.
// Reads are not held up. What the tests then prove about the store's races
// holds for any server that keeps single-document writes atomic.

const (
	opMsg          = 2013
	moreToCome     = 1 << 1
	maxMessageSize = 48 << 20
)

var writeCommands = map[string]bool{"insert": true, "update": true, "delete": true, "findandmodify": true}

// front accepts on l and relays each connection to upstream.
func front(l net.Listener, upstream string) error {
	var writes sync.Mutex
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			relay(c, u, &writes)
		}()
	}
}

// relay passes requests from c to u and replies back, one at a time, as
// MongoDB drivers use a connection. A write holds writes until its reply
// has been read.
func relay(c, u net.Conn, writes *sync.Mutex) {
	for {
		req, err := readMessage(c)
		if err != nil {
			return
		}
		write := isWrite(req)
		if write {
			writes.Lock()
		}
		err = exchange(c, u, req)
		if write {
			writes.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// exchange sends req upstream and relays its replies (more than one while
// a reply says moreToCome).
func exchange(c, u net.Conn, req []byte) error {
	if _, err := u.Write(req); err != nil {
		return err
	}
	if flags(req)&moreToCome != 0 {
		return nil // the client expects no reply
	}
	for {
		rep, err := readMessage(u)
		if err != nil {
			return err
		}
		if _, err := c.Write(rep); err != nil {
			return err
		}
		if flags(rep)&moreToCome == 0 {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(head[:4]))
	if n < 16 || n > maxMessageSize {
		return nil, fmt.Errorf("message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[16:])
	return msg, err
}

// flags returns the OP_MSG flag bits (0 for other opcodes).
func flags(msg []byte) uint32 {
	if len(msg) < 20 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[16:20])
}

// isWrite reports whether msg is an OP_MSG whose command (the first key
// of its body section) is a write.
func isWrite(msg []byte) bool {
	if len(msg) < 21 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return false
	}
	for p := 20; p < len(msg); {
		kind := msg[p]
		p++
		if p+4 > len(msg) {
			return false
		}
		size := int(binary.LittleEndian.Uint32(msg[p : p+4]))
		if kind == 0 {
			// BSON document: int32 length, then type byte, then cstring key.
			if p+5 >= len(msg) {
				return false
			}
			key := msg[p+5:]
			end := strings.IndexByte(string(key), 0)
			return end > 0 && writeCommands[strings.ToLower(string(key[:end]))]
		}
		if size < 4 {
			return false
		}
		p += size
	}
	return false
}
